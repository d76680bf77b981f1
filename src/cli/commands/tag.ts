/** `kiln tag SOURCE TARGET`: points TARGET at the image SOURCE names (a reference, ID or digest). */
import type { Command } from 'commander';
import { openRoot } from '../../cache/root.js';
import { globalOptions } from '../context.js';

export function register(program: Command): void {
  program
    .command('tag')
    .description('create a tag TARGET that refers to SOURCE')
    .argument('<source>', 'image reference, ID or digest')
    .argument('<target>', 'new reference, name[:tag]')
    .action(async (source: string, target: string, _opts: unknown, cmd: Command) => {
      if (globalOptions(cmd).host) return (await import('../remote/entry.js')).remoteTagCommand(globalOptions(cmd), source, target);
      const root = await openRoot(globalOptions(cmd).root);
      try {
        const image = await root.images.resolve(source);
        // Tag what the source tag points to (an index stays an index), not only the platform manifest.
        const entry = (await root.images.entries()).find((e) => e.descriptor.digest === (image.indexDigest ?? image.manifestDigest));
        await root.images.tag(target, entry?.descriptor ?? image.descriptor);
      } finally {
        await root.close();
      }
    });
}
