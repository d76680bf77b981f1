/**
 * `kiln base busybox [--tag T]…`: makes the offline busybox base image from Debian's busybox-static.
 * Idempotent and quiet when the tags exist; prints the image ID when it creates one.
 */
import type { Command } from 'commander';
import { KilnError } from '../../errors.js';
import { ensureBusyboxImage } from '../../cache/busybox-image.js';
import { openRoot } from '../../cache/root.js';
import { shortId } from '../../image/digest.js';
import { globalOptions } from '../context.js';

export function register(program: Command): void {
  program
    .command('base')
    .description("make an offline base image in the store (busybox: from Debian's busybox-static)")
    .argument('<kind>', 'base image kind (busybox)')
    .option('-t, --tag <ref>', 'tag the image with this reference too (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--busybox <path>', 'static busybox binary to use', '/bin/busybox')
    .action(async (kind: string, opts: { tag: string[]; busybox: string }, cmd: Command) => {
      if (kind !== 'busybox') throw new KilnError('INVALID_ARGUMENT', `unknown base image kind "${kind}"`, { hint: 'supported: busybox' });
      const root = await openRoot(globalOptions(cmd).root);
      try {
        const first = await ensureBusyboxImage(root, 'busybox:latest', { busybox: opts.busybox });
        let created = first.created;
        for (const t of opts.tag) {
          if (await root.images.find(t)) continue;
          await root.images.tag(t, first.image.descriptor);
          created = true;
        }
        if (created) process.stdout.write(`${shortId(first.image.id)}\n`);
      } finally {
        await root.close();
      }
    });
}
