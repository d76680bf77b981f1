/**
 * An image's rootfs for `kiln run`: the snapshotter unpacks the image's layers once (shared with builds), and the
 * container gets its own upper and work directories under `<root>/containers/<id>/fs`, so its writable layer
 * lives and dies with the container record rather than with the process that created it (a detached container
 * outlives the `kiln run -d` that made it). The executor mounts what this returns.
 */
import { mkdir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageRecord } from '../cache/image-store.js';
import type { StoreRoot } from '../cache/root.js';
import { createSnapshotter } from '../cache/snapshotter.js';
import type { Mount } from '../cache/types.js';
import { KilnError } from '../errors.js';
import { containerDir } from '../sandbox/executor.js';

/** Unpacks `image` if needed and returns writable rootfs mounts for container `id`. */
export async function prepareRootfs(store: StoreRoot, image: ImageRecord, id: string, opts: { signal?: AbortSignal } = {}): Promise<Mount[]> {
  const diffIds = image.config.rootfs?.diff_ids ?? [];
  const layers = image.manifest.layers;
  if (diffIds.length !== layers.length) {
    throw new KilnError('STORE_CORRUPT', `image ${image.id.slice(7, 19)}: ${layers.length} layers but ${diffIds.length} diff IDs`);
  }
  const snapshotter = createSnapshotter({ root: store.paths.snapshots, content: store.content });
  const top = await snapshotter.ensureImage(
    layers.map((descriptor, i) => ({ descriptor, diffId: diffIds[i]! })),
    { signal: opts.signal },
  );
  const fs = join(containerDir(store.root, id), 'fs');
  const upper = join(fs, 'upper');
  const work = join(fs, 'work');
  await mkdir(upper, { recursive: true, mode: 0o755 });
  await mkdir(work, { recursive: true, mode: 0o700 });
  // The snapshotter flattens chains too deep for one overlay mount (over ~300 layers).
  return snapshotter.rootfsMounts(top, { upper, work });
}

/** Removes container `id`'s writable layer. Safe when it is gone. */
export async function releaseRootfs(root: string, id: string): Promise<void> {
  await rm(join(containerDir(root, id), 'fs'), { recursive: true, force: true });
  await rmdir(containerDir(root, id)).catch(() => {});
}
