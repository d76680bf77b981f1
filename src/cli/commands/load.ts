/**
 * `kiln load [-i FILE]`: loads images from a docker-archive or OCI archive (plain or compressed; stdin when -i
 * is absent). Prints `Loaded image: REF` / `Loaded image ID: sha256:…` as `docker load` does.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { openRoot } from '../../cache/root.js';
import { fromSystemError, KilnError } from '../../errors.js';
import { loadArchive } from '../../exporter/archive-load.js';
import { familiarize } from '../../image/reference.js';
import { globalOptions } from '../context.js';

export function register(program: Command): void {
  program
    .command('load')
    .description('load images from a docker-archive or OCI archive tar')
    .option('-i, --input <file>', 'read from FILE instead of stdin')
    .option('-q, --quiet', 'print nothing')
    .action(async (opts: { input?: string; quiet?: boolean }, cmd: Command) => {
      if (opts.input)
        await stat(opts.input).catch((err) => {
          throw fromSystemError(err, opts.input!) ?? err;
        });
      else if (process.stdin.isTTY) throw new KilnError('INVALID_ARGUMENT', 'no archive on stdin', { hint: 'use -i FILE or pipe an archive in' });
      const root = await openRoot(globalOptions(cmd).root);
      try {
        const input = opts.input ? createReadStream(opts.input) : process.stdin;
        const loaded = await loadArchive(root, input, opts.input ?? 'stdin');
        if (opts.quiet) return;
        for (const l of loaded) process.stdout.write(l.ref ? `Loaded image: ${familiarize(l.ref)}\n` : `Loaded image ID: ${l.id}\n`);
      } finally {
        await root.close();
      }
    });
}
