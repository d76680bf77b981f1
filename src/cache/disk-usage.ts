/**
 * Space used by the store, by kind: image metadata (manifests, configs, indexes), layers, build cache (blobs only
 * GC roots keep), blobs held by running processes (leases), unreferenced blobs (what prune reclaims), and the
 * unpacked snapshots (their directories, hard-linked files once; reclaimable: what prune's snapshot collection
 * would free, see src/cache/snapshot-gc.ts).
 */
import type { Digest, Index, Manifest } from '../image/types.js';
import { readGcRoots, markReachable } from './gc.js';
import { liveLeasedDigests } from './lease.js';
import type { StoreRoot } from './root.js';

export interface UsageRow {
  kind: 'images' | 'layers' | 'build-cache' | 'leased' | 'unreferenced' | 'snapshots';
  count: number;
  bytes: number;
  /**
   * Bytes `kiln prune` would reclaim (unreferenced blobs, snapshots nothing needs); `prune --all` also reclaims
   * the build cache.
   */
  reclaimable: number;
}

/** Classifies every blob once (first matching kind wins: images, layers, build cache, leased, unreferenced). */
export async function diskUsage(root: StoreRoot): Promise<UsageRow[]> {
  const meta = new Set<Digest>();
  const layers = new Set<Digest>();
  const walk = async (digest: Digest, depth: number): Promise<void> => {
    if (meta.has(digest) || depth > 2) return;
    let doc: Partial<Manifest & Index>;
    try {
      doc = await root.content.readJson(digest);
    } catch {
      return;
    }
    meta.add(digest);
    if (doc.config) meta.add(doc.config.digest);
    for (const l of doc.layers ?? []) layers.add(l.digest);
    for (const m of doc.manifests ?? []) if (await root.content.has(m.digest)) await walk(m.digest, depth + 1);
  };
  for (const e of await root.images.entries()) await walk(e.descriptor.digest, 0);
  const cache = await markReachable(
    root.content,
    (await readGcRoots(root.paths.gcRoots)).flatMap((r) => r.digests),
  );
  const leased = await markReachable(root.content, await liveLeasedDigests(root.paths.leases));

  const rows: Record<UsageRow['kind'], UsageRow> = {
    images: { kind: 'images', count: 0, bytes: 0, reclaimable: 0 },
    layers: { kind: 'layers', count: 0, bytes: 0, reclaimable: 0 },
    'build-cache': { kind: 'build-cache', count: 0, bytes: 0, reclaimable: 0 },
    leased: { kind: 'leased', count: 0, bytes: 0, reclaimable: 0 },
    unreferenced: { kind: 'unreferenced', count: 0, bytes: 0, reclaimable: 0 },
    snapshots: { kind: 'snapshots', count: 0, bytes: 0, reclaimable: 0 },
  };
  for await (const b of root.content.list()) {
    const kind = meta.has(b.digest)
      ? 'images'
      : layers.has(b.digest)
        ? 'layers'
        : cache.has(b.digest)
          ? 'build-cache'
          : leased.has(b.digest)
            ? 'leased'
            : 'unreferenced';
    const row = rows[kind];
    row.count++;
    row.bytes += b.size;
    if (kind === 'unreferenced') row.reclaimable += b.size;
  }
  // Loaded on demand: the snapshotter pulls in the layer unpacker.
  const snaps = await (await import('./snapshot-gc.js')).snapshotUsage(root);
  rows.snapshots.count = snaps.count;
  rows.snapshots.bytes = snaps.bytes;
  rows.snapshots.reclaimable = snaps.reclaimable;
  return Object.values(rows);
}
