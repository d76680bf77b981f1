/**
 * Which snapshots garbage collection must keep, besides what the snapshotter protects itself (active snapshots
 * and their chains, snapshots younger than its grace window):
 *  - the chain IDs of every image in index.json (tagged, or dangling and surviving this collection): their
 *    layers stay unpacked, as Docker keeps an image's layers until the image goes;
 *  - the snapshot of every build-cache record (`buildCacheRoots()`), unless this collection dropped it;
 *  - the chain IDs of images that running builds, pulls and imports hold through leases (manifests or configs
 *    among the leased digests; likewise `extraRoots` of in-process owners): a pull may unpack before it tags;
 *  - the lower directories of every container's rootfs (kept with its record, flattened ones included), so a
 *    container whose image was removed with `rmi -f` still starts.
 * Ancestors of kept snapshots are kept by the snapshotter's own marking.
 */
import { resolve } from 'node:path';
import type { Descriptor, Digest, ImageConfig, Index, Manifest } from '../image/types.js';
import { buildCacheRoots } from './build-cache.js';
import { containerRootfs } from './container-holds.js';
import { readGcRoots, startsWithBrace } from './gc.js';
import { liveLeasedDigests } from './lease.js';
import type { StoreRoot } from './root.js';
import { chainIds } from './snapshotter.js';
import type { ContentStore, Mount, SnapshotInfo } from './types.js';

export interface SnapshotKeepOptions {
  /** Index entries (manifest digests) this collection removes or would remove: their chains are not kept. */
  removedImages?: Iterable<Digest>;
  /** GC root files (names) this collection removes or would remove (dry runs: they are still on disk). */
  removedRoots?: Iterable<string>;
  /** More digests (in-process owners' `extraRoots`): the images among them keep their chains. */
  digests?: Iterable<Digest>;
}

/** Documents larger than this are not image JSON (layers are read only for their first byte). */
const MAX_JSON = 4 << 20;

/**
 * Chain IDs of the images that `digests` name (manifests, indexes with their present children, or configs);
 * digests that are none of these (layers) are skipped after reading one byte.
 */
async function imageChainIds(content: ContentStore, digests: Iterable<Digest>): Promise<Set<string>> {
  const out = new Set<string>();
  const seen = new Set<Digest>();
  const stack = [...digests];
  while (stack.length > 0) {
    const digest = stack.pop()!;
    if (seen.has(digest)) continue;
    seen.add(digest);
    const doc = await readImageJson(content, digest);
    if (!doc) continue;
    if (Array.isArray(doc.manifests)) for (const m of doc.manifests) if (m?.digest) stack.push(m.digest);
    if (doc.config && typeof doc.config === 'object' && 'digest' in doc.config) stack.push((doc.config as Descriptor).digest);
    const diffIds = (doc as Partial<ImageConfig>).rootfs?.diff_ids;
    if (Array.isArray(diffIds)) for (const id of chainIds(diffIds)) out.add(id);
  }
  return out;
}

async function readImageJson(content: ContentStore, digest: Digest): Promise<Partial<Manifest & Index & ImageConfig> | undefined> {
  const info = await content.info(digest).catch(() => undefined);
  if (!info || info.size > MAX_JSON) return undefined;
  try {
    // Leases may name thousands of layer blobs: peek one byte ('{') before reading a blob whole.
    if (!(await startsWithBrace(content.blobPath(digest)))) return undefined;
    const buf = await content.readBuffer(digest);
    const doc: unknown = JSON.parse(buf.toString('utf8'));
    return doc && typeof doc === 'object' ? (doc as Partial<Manifest & Index & ImageConfig>) : undefined;
  } catch {
    return undefined;
  }
}

/** Snapshot keys of build-cache records, minus those in `removedRoots` (GC root file names). */
async function buildCacheSnapshots(root: StoreRoot, removedRoots: Iterable<string> = []): Promise<Set<string>> {
  const removed = new Set(removedRoots);
  if (removed.size === 0) return (await buildCacheRoots(root.root)).snapshots;
  // A dry run: the dropped records are still on disk, so read the root files and skip those (the build
  // cache's records carry `result.snapshot`, see src/cache/build-cache.ts).
  const out = new Set<string>();
  for (const r of await readGcRoots(root.paths.gcRoots)) {
    const snapshot = (r as { result?: { snapshot?: unknown } }).result?.snapshot;
    if (!removed.has(r.name) && typeof snapshot === 'string') out.add(snapshot);
  }
  return out;
}

/** The lower directories of an overlay rootfs (relative ones resolved from the mount's `cwd`). */
export function lowerDirsOf(mounts: readonly Mount[]): string[] {
  const out: string[] = [];
  for (const m of mounts) {
    if (m.type !== 'overlay') continue;
    for (const o of m.options) {
      if (!o.startsWith('lowerdir=')) continue;
      for (const d of o.slice('lowerdir='.length).split(':')) if (d) out.push(resolve(m.cwd ?? '/', d));
    }
  }
  return out;
}

/**
 * The snapshot keys to keep (see the module comment), given the current snapshots `snaps`. Reads leases, so
 * call it under the store lock, as `collectGarbage` does.
 */
export async function snapshotsToKeep(root: StoreRoot, snaps: readonly SnapshotInfo[], opts: SnapshotKeepOptions = {}): Promise<Set<string>> {
  const removedImages = new Set(opts.removedImages ?? []);
  const images = (await root.images.entries()).filter((e) => e.ref || !removedImages.has(e.descriptor.digest)).map((e) => e.descriptor.digest);
  const keep = await imageChainIds(root.content, [...images, ...(await liveLeasedDigests(root.paths.leases)), ...(opts.digests ?? [])]);
  for (const k of await buildCacheSnapshots(root, opts.removedRoots)) keep.add(k);
  const byDir = new Map(snaps.map((s) => [resolve(s.dir), s.key]));
  for (const mounts of await containerRootfs(root.paths.containers)) {
    for (const d of lowerDirsOf(mounts)) {
      const key = byDir.get(d);
      if (key !== undefined) keep.add(key);
    }
  }
  return keep;
}
