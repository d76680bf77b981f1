/**
 * `kiln base busybox [--platform P1,P2] [--tag T]…`: makes the offline busybox base image from Debian's
 * busybox-static (other architectures' from their .debs, fetched by scripts/setup.sh; several platforms make an
 * image index). Idempotent and quiet when the tags exist; prints the image ID (or index digest) when it creates one.
 */
import type { Command } from 'commander';
import { KilnError } from '../../errors.js';
import { ensureBusyboxImage, ensureBusyboxPlatforms } from '../../cache/busybox-image.js';
import { openRoot } from '../../cache/root.js';
import { shortId } from '../../image/digest.js';
import { parsePlatformList } from '../../image/platform.js';
import { globalOptions } from '../context.js';

export function register(program: Command): void {
  program
    .command('base')
    .description("make an offline base image in the store (busybox: from Debian's busybox-static)")
    .argument('<kind>', 'base image kind (busybox)')
    .option('-t, --tag <ref>', 'tag the image with this reference too (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--busybox <path>', 'static busybox binary to use', '/bin/busybox')
    .option('--platform <os/arch,…>', 'platforms (several make an image index; others than the host need their busybox-static .deb, see --deb-dir)')
    .option('--deb-dir <dir>', 'directory of busybox-static_*_<arch>.deb files (default $KILN_DEB_DIR or /var/cache/kiln/debs)')
    .action(async (kind: string, opts: { tag: string[]; busybox: string; platform?: string; debDir?: string }, cmd: Command) => {
      if (kind !== 'busybox') throw new KilnError('INVALID_ARGUMENT', `unknown base image kind "${kind}"`, { hint: 'supported: busybox' });
      const root = await openRoot(globalOptions(cmd).root);
      try {
        let first: { descriptor: import('../../image/types.js').Descriptor; created: boolean; id: string };
        if (opts.platform === undefined) {
          const r = await ensureBusyboxImage(root, 'busybox:latest', { busybox: opts.busybox });
          first = { descriptor: r.image.descriptor, created: r.created, id: r.image.id };
        } else {
          const r = await ensureBusyboxPlatforms(root, 'busybox:latest', parsePlatformList(opts.platform), { busybox: opts.busybox, debDir: opts.debDir });
          first = { ...r, id: r.descriptor.digest };
        }
        let created = first.created;
        for (const t of opts.tag) {
          if (await root.images.find(t).catch(() => undefined)) continue;
          await root.images.tag(t, first.descriptor);
          created = true;
        }
        if (created) process.stdout.write(`${shortId(first.id)}\n`);
      } finally {
        await root.close();
      }
    });
}
