/**
 * `kiln store verify`: re-hashes every blob and checks every tag names a complete image. Prints each problem and
 * exits non-zero (STORE_CORRUPT) when there is damage. `kiln store path` prints the OCI layout directory.
 */
import type { Command } from 'commander';
import { openRoot } from '../../cache/root.js';
import { verifyStore } from '../../cache/verify.js';
import { KilnError } from '../../errors.js';
import { globalOptions } from '../context.js';
import { humanSize } from '../human-units.js';

export function register(program: Command): void {
  const store = program.command('store').description('inspect and check the local store');
  store
    .command('verify')
    .description('re-hash every blob and check every tag points to a complete image')
    .action(async (_opts: unknown, cmd: Command) => {
      const root = await openRoot(globalOptions(cmd).root);
      try {
        const r = await verifyStore(root);
        for (const p of r.problems) process.stdout.write(`${p.subject}: ${p.message}\n`);
        const summary = `${r.blobs} blobs (${humanSize(r.bytes)}), ${r.entries} index entries`;
        if (r.problems.length > 0) {
          throw new KilnError('STORE_CORRUPT', `store ${root.paths.oci} is damaged: ${r.problems.length} problem(s) in ${summary}`, {
            hint: 'remove the damaged images with `kiln rmi` and load or pull them again',
          });
        }
        process.stdout.write(`ok: ${summary} verified\n`);
      } finally {
        await root.close();
      }
    });
  store
    .command('path')
    .description('print the OCI image layout directory of the store')
    .action(async (_opts: unknown, cmd: Command) => {
      const root = await openRoot(globalOptions(cmd).root);
      process.stdout.write(`${root.paths.oci}\n`);
      await root.close();
    });
}
