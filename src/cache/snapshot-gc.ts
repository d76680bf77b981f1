/**
 * Garbage collection of unpacked snapshots, the half of `kiln prune` that frees `<root>/snapshots`, and the
 * snapshot row of `kiln du`. What stays is decided by `snapshotsToKeep` (images, build cache, leases,
 * containers) plus the snapshotter's own protection (active snapshots' chains, the grace window); the
 * snapshotter removes the rest. Freed bytes are measured before removal, counting a hard-linked file only when
 * every link goes (src/cache/snapshot-usage.ts).
 */
import { stat } from 'node:fs/promises';
import type { StoreRoot } from './root.js';
import { snapshotsToKeep, type SnapshotKeepOptions } from './snapshot-keep.js';
import { createSnapshotter, type OverlaySnapshotter } from './snapshotter.js';
import { exclusiveBytes, measureDirs } from './snapshot-usage.js';
import type { SnapshotInfo } from './types.js';

export interface SnapshotPruneResult {
  /** Keys removed (with dryRun: that would be). */
  removed: string[];
  /** Bytes freed (files whose every link was inside removed snapshot directories). */
  reclaimedBytes: number;
  /** Leftovers `cleanup()` removed: active snapshots of dead processes, half-unpacked layers. */
  cleaned: number;
}

/**
 * Committed snapshots that marking from `keep` and from active snapshots leaves unmarked: what
 * `snapshotter.prune(keep)` removes with no grace window (a superset of what it removes with one).
 * `young` keys count as kept too (a dry run's approximation of the grace window).
 */
export function unreachableSnapshots(snaps: readonly SnapshotInfo[], keep: Iterable<string>, young: Iterable<string> = []): SnapshotInfo[] {
  const byKey = new Map(snaps.map((s) => [s.key, s]));
  const live = new Set<string>();
  const mark = (key: string | undefined) => {
    for (let k = key; k !== undefined && !live.has(k); k = byKey.get(k)?.parent) live.add(k);
  };
  for (const k of keep) mark(k);
  for (const k of young) mark(k);
  for (const s of snaps) if (s.kind === 'active') mark(s.key);
  // As the snapshotter does: a flattened bottom lives as long as the snapshot it was cut at.
  for (const s of snaps) if (s.key.startsWith('flat:') && live.has(s.key.slice(5))) live.add(s.key);
  return snaps.filter((s) => !live.has(s.key));
}

/** Directories of `gone` that no snapshot in `stay` shares (an id may back several keys). */
function freedDirs(gone: readonly SnapshotInfo[], stay: readonly SnapshotInfo[]): string[] {
  const kept = new Set(stay.map((s) => s.dir));
  return [...new Set(gone.map((s) => s.dir))].filter((d) => !kept.has(d));
}

/** A snapshot collection in two steps: `begin` (cleanup, before the blob collection) and `prune`. */
export interface SnapshotGc {
  /** Computes the keep set; call it under the store lock, after dangling images and GC roots are dropped. */
  keep(opts: SnapshotKeepOptions): Promise<Set<string>>;
  /** Removes every snapshot `keep` does not reach, except those younger than `graceMs`. */
  prune(keep: Set<string>, opts: { graceMs: number; signal?: AbortSignal }): Promise<SnapshotPruneResult>;
}

/**
 * Starts a snapshot collection on `root`: runs `snapshotter.cleanup()` first (unless `dryRun`), so the
 * active snapshots of dead builds no longer protect their parents.
 */
export async function beginSnapshotGc(root: StoreRoot, opts: { dryRun?: boolean; snapshotter?: OverlaySnapshotter } = {}): Promise<SnapshotGc> {
  const snapshotter = opts.snapshotter ?? createSnapshotter({ root: root.paths.snapshots, content: root.content });
  const cleaned = opts.dryRun ? 0 : await snapshotter.cleanup();
  let listed: SnapshotInfo[] = [];
  return {
    async keep(k) {
      listed = await snapshotter.list();
      return snapshotsToKeep(root, listed, k);
    },
    async prune(keep, p) {
      const before = listed.length > 0 ? listed : await snapshotter.list();
      const doomed = unreachableSnapshots(before, keep);
      if (doomed.length === 0) return { removed: [], reclaimedBytes: 0, cleaned };
      if (opts.dryRun) {
        const young = await youngKeys(before, p.graceMs);
        const gone = unreachableSnapshots(before, keep, young);
        const goneKeys = new Set(gone.map((s) => s.key));
        const measured = await measureDirs(new Set(gone.map((s) => s.dir)), { signal: p.signal });
        const bytes = exclusiveBytes(
          measured,
          freedDirs(
            gone,
            before.filter((s) => !goneKeys.has(s.key)),
          ),
        );
        return { removed: gone.map((s) => s.key), reclaimedBytes: bytes, cleaned };
      }
      const measured = await measureDirs(new Set(doomed.map((s) => s.dir)), { signal: p.signal });
      p.signal?.throwIfAborted();
      const removed = await snapshotter.prune(keep, { graceMs: p.graceMs });
      const removedSet = new Set(removed);
      const gone = before.filter((s) => removedSet.has(s.key));
      const bytes = exclusiveBytes(measured, freedDirs(gone, await snapshotter.list()));
      return { removed, reclaimedBytes: bytes, cleaned };
    },
  };
}

/** Keys whose directory changed in the last `graceMs` (the snapshotter's own test reads its metadata). */
async function youngKeys(snaps: readonly SnapshotInfo[], graceMs: number): Promise<string[]> {
  if (graceMs <= 0) return [];
  const now = Date.now();
  const out: string[] = [];
  for (const s of snaps) {
    const st = await stat(s.dir).catch(() => undefined);
    if (st && now - st.ctimeMs < graceMs) out.push(s.key);
  }
  return out;
}

/** The snapshot row of `kiln du`. */
export interface SnapshotUsage {
  /** Snapshots (committed and active). */
  count: number;
  /** Bytes of their directories, hard-linked files once. */
  bytes: number;
  /** Bytes a plain `kiln prune` would free (snapshots no image, build-cache record, lease or container needs). */
  reclaimable: number;
}

/** Measures every snapshot directory (a du-like walk) and what pruning would free; changes nothing. */
export async function snapshotUsage(root: StoreRoot, opts: { signal?: AbortSignal } = {}): Promise<SnapshotUsage> {
  const snapshotter = createSnapshotter({ root: root.paths.snapshots, content: root.content });
  const snaps = await snapshotter.list();
  if (snaps.length === 0) return { count: 0, bytes: 0, reclaimable: 0 };
  const measured = await measureDirs(new Set(snaps.map((s) => s.dir)), opts);
  const keep = await snapshotsToKeep(root, snaps);
  const gone = unreachableSnapshots(snaps, keep);
  const goneKeys = new Set(gone.map((s) => s.key));
  const reclaimable = exclusiveBytes(
    measured,
    freedDirs(
      gone,
      snaps.filter((s) => !goneKeys.has(s.key)),
    ),
  );
  return { count: snaps.length, bytes: measured.bytes, reclaimable };
}
