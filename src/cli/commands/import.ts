/**
 * `kiln import FILE|- [REF] [--change 'CMD …'] [-m MESSAGE]`: a root filesystem tarball (plain, gzip, zstd)
 * becomes a one-layer image; prints its ID (`sha256:…`) as `docker import` does.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { importRootfs } from '../../cache/import-rootfs.js';
import { openRoot } from '../../cache/root.js';
import { fromSystemError } from '../../errors.js';
import { globalOptions } from '../context.js';

export function register(program: Command): void {
  program
    .command('import')
    .description('create an image from a root filesystem tarball (plain, gzip or zstd)')
    .argument('<file>', 'tarball path, or - for stdin')
    .argument('[reference]', 'tag for the new image')
    .option(
      '-c, --change <instruction>',
      'apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, …); repeatable',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('-m, --message <text>', 'history comment for the imported layer')
    .action(async (file: string, reference: string | undefined, opts: { change: string[]; message?: string }, cmd: Command) => {
      if (file !== '-') {
        await stat(file).catch((err) => {
          throw fromSystemError(err, file) ?? err;
        });
      }
      const root = await openRoot(globalOptions(cmd).root);
      try {
        const input = file === '-' ? process.stdin : createReadStream(file);
        const r = await importRootfs(root, input, { source: file, ref: reference, changes: opts.change, message: opts.message });
        process.stdout.write(`${r.id}\n`);
      } finally {
        await root.close();
      }
    });
}
