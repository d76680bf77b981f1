/**
 * `kiln rmi IMAGE…`: untags; when an image loses its last tag (or is named by ID), deletes it and the blobs no
 * other image, lease or GC root needs. Every argument is resolved before anything changes, so an unknown one
 * leaves the store as it was. Output as Docker's: `Untagged: …` and `Deleted: sha256:…` lines.
 */
import type { Command } from 'commander';
import { collectGarbage } from '../../cache/gc.js';
import { openRoot } from '../../cache/root.js';
import { KilnError } from '../../errors.js';
import { shortId } from '../../image/digest.js';
import { familiarize, normalizeReference } from '../../image/reference.js';
import type { Digest } from '../../image/types.js';
import { globalOptions } from '../context.js';

/** Image IDs that containers (running or stopped; `running`: running ones only) were created from; Docker refuses to delete those. */
export async function imagesInUse(rootDir: string, opts: { running?: boolean } = {}): Promise<Set<Digest>> {
  const { createContainerStore } = await import('../../containers/containers.js');
  const recs = await createContainerStore({ root: rootDir })
    .list()
    .catch(() => []);
  return new Set(
    recs
      .filter((r) => !opts.running || r.status === 'running')
      .map((r) => r.imageId as Digest)
      .filter(Boolean),
  );
}

export function register(program: Command): void {
  program
    .command('rmi')
    .description('remove images (untag; delete what nothing else needs)')
    .argument('<image...>', 'references or image IDs')
    .option('-f, --force', 'remove an image ID even when several tags name it')
    .action(async (names: string[], opts: { force?: boolean }, cmd: Command) => {
      if (globalOptions(cmd).host) return (await import('../remote/entry.js')).remoteRmiCommand(globalOptions(cmd), names, opts);
      const root = await openRoot(globalOptions(cmd).root);
      try {
        const plans: Array<{
          name: string;
          id: Digest;
          refs: string[];
          byTag: boolean;
          untag: string[];
          keep?: boolean;
          target: Digest;
          candidates: Digest[];
        }> = [];
        for (const name of names) {
          const image = await root.images.resolve(name);
          let full: string | undefined;
          try {
            full = normalizeReference(name);
          } catch {
            full = undefined;
          }
          const byTag = full !== undefined && image.refs.includes(full);
          if (!byTag && image.refs.length > 1 && !opts.force) {
            throw new KilnError('IMAGE_IN_USE', `unable to delete ${shortId(image.id)} (must be forced): image is referenced by ${image.refs.length} tags`, {
              hint: `remove the tags one by one (${image.refs.map(familiarize).join(', ')}) or use -f`,
            });
          }
          plans.push({
            name,
            id: image.id,
            refs: image.refs,
            byTag,
            untag: byTag ? [full!] : image.refs,
            target: image.indexDigest ?? image.manifestDigest,
            candidates: [image.indexDigest ?? image.manifestDigest, image.manifestDigest, image.configDigest, ...image.manifest.layers.map((l) => l.digest)],
          });
        }
        // An image is deleted when the plan removes all its tags; Docker refuses that while a container uses it.
        const untagged = new Set(plans.flatMap((p) => p.untag));
        // A running container's image cannot go even with -f (by tag, -f untags and keeps it, as Docker).
        const inUse = opts.force ? new Set<Digest>() : await imagesInUse(root.root);
        const running = await imagesInUse(root.root, { running: true });
        for (const p of plans) {
          if (!p.refs.every((r) => untagged.has(r))) continue;
          if (running.has(p.id) && opts.force) {
            if (!p.byTag) {
              throw new KilnError('IMAGE_IN_USE', `unable to delete ${shortId(p.id)} (cannot be forced): a running container is using it`, {
                hint: 'stop and remove the container first (kiln rm -f)',
              });
            }
            p.keep = true;
          }
          if (inUse.has(p.id)) {
            throw new KilnError('IMAGE_IN_USE', `unable to remove ${p.name}: a container is using image ${shortId(p.id)}`, {
              hint: 'remove the container first (kiln rm), or use -f',
            });
          }
        }
        for (const p of plans) {
          for (const ref of p.untag) {
            await root.images.untag(ref, { keepDangling: p.keep }).catch((err) => {
              if ((err as KilnError).code !== 'IMAGE_NOT_FOUND') throw err;
            });
            process.stdout.write(`Untagged: ${familiarize(ref)}\n`);
          }
          const still = (await root.images.entries()).some((e) => e.descriptor.digest === p.target && e.ref);
          if (still || p.keep) continue;
          await root.images.removeEntries(p.target);
          const res = await collectGarbage(root, { candidates: p.candidates });
          for (const d of res.removedBlobs) process.stdout.write(`Deleted: ${d}\n`);
        }
      } finally {
        await root.close();
      }
    });
}
