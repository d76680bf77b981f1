/**
 * Garbage collection of the content store by mark-and-sweep, under the store lock.
 *
 * Roots (everything reachable from them is kept):
 *  - every entry of `<root>/oci/index.json` (tags; dangling images unless this collection removes them);
 *  - live leases (`<root>/leases/`, src/cache/lease.ts): blobs a running build, pull or import is creating;
 *  - GC root files `<root>/gc-roots/<name>.json`, written atomically by other modules (the build cache):
 *        { "digests": ["sha256:…", …], "kind": "build-cache", "lastUsed": "<ISO time>", "prunable": true }
 *    `digests` are kept (manifests and indexes among them are walked). A `prunable` file is a cache entry that
 *    `prune --all`, `--keep-storage` and `--filter until=` may delete (oldest `lastUsed` first); its owner must
 *    treat a missing file as a cache miss. Files without `prunable` are never deleted by prune.
 *  - `extraRoots` callbacks, for in-process owners (the server) that keep roots in memory.
 * Manifests and indexes are walked through their descriptors; blobs they name that are absent are skipped.
 *
 * A full collection (no `candidates`) also prunes unpacked snapshots (src/cache/snapshot-gc.ts): it starts with
 * `snapshotter.cleanup()`, decides under the lock which snapshots surviving images, build-cache records, leases
 * and containers need, and removes the rest after releasing the lock (deleting directories can take seconds,
 * and builds wait on the lock to add leases).
 */
import { open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isDigest } from '../image/digest.js';
import { isIndexMediaType, isManifestMediaType, type Descriptor, type Digest, type Index, type Manifest } from '../image/types.js';
import { liveLeasedDigests } from './lease.js';
import type { StoreRoot } from './root.js';
import type { ContentStore } from './types.js';

/** A GC root file's content (see the module comment). */
export interface GcRootFile {
  digests: Digest[];
  kind?: string;
  lastUsed?: string;
  prunable?: boolean;
}

/** A root file as read from disk. */
export interface GcRootEntry extends GcRootFile {
  name: string;
  path: string;
}

export interface GcOptions {
  /** Remove tagless index entries (Docker's dangling images) first. */
  removeDangling?: boolean;
  /** Only dangling images / prunable roots last used before this time are removed. */
  until?: Date;
  /** Remove every prunable GC root (the whole build cache). */
  all?: boolean;
  /** Remove prunable roots oldest first until the store holds at most this many bytes. */
  keepStorage?: number;
  /** Unreferenced blobs younger than this are kept (protects writers that hold no lease). Default 0. */
  minAgeMs?: number;
  /** Only these blobs may be deleted (rmi: the removed image's blobs). Default: every blob. */
  candidates?: Iterable<Digest>;
  /** Extra digests to keep, supplied by in-process owners. */
  extraRoots?: Array<() => Promise<Iterable<Digest>> | Iterable<Digest>>;
  /** Image IDs (config digests) that containers use: their dangling images are kept. */
  inUseImageIds?: Set<Digest>;
  /** Report what would go without deleting. */
  dryRun?: boolean;
  /** Also prune unpacked snapshots. Default: true for a full collection (no `candidates`). */
  snapshots?: boolean;
  /**
   * Snapshots younger than this stay (and their ancestors): a step committed but not yet recorded in the build
   * cache, an image unpacked but not yet tagged. Default 60 s.
   */
  snapshotGraceMs?: number;
  signal?: AbortSignal;
}

export interface GcResult {
  removedBlobs: Digest[];
  reclaimedBytes: number;
  removedImages: Digest[];
  removedRoots: string[];
  /** Snapshot keys removed. */
  removedSnapshots: string[];
  /** Bytes the removed snapshots freed (also counted in `reclaimedBytes`). */
  snapshotBytes: number;
}

/** Reads `<gcRootsDir>/*.json`; unreadable files are skipped (their writers replace them atomically). */
export async function readGcRoots(gcRootsDir: string): Promise<GcRootEntry[]> {
  const names = await readdir(gcRootsDir).catch(() => [] as string[]);
  const out: GcRootEntry[] = [];
  for (const name of names.sort()) {
    if (!name.endsWith('.json') || name.startsWith('.')) continue;
    const path = join(gcRootsDir, name);
    try {
      const f = JSON.parse(await readFile(path, 'utf8')) as GcRootFile;
      out.push({ ...f, digests: (f.digests ?? []).filter(isDigest), name, path });
    } catch {
      // Not ours to judge; a foreign or half-copied file pins nothing.
    }
  }
  return out;
}

/** Marks everything reachable from `roots` (digests, walked through manifests and indexes). */
export async function markReachable(content: ContentStore, roots: Iterable<Descriptor | Digest>): Promise<Set<Digest>> {
  const marked = new Set<Digest>();
  const stack: Array<Descriptor | Digest> = [...roots];
  while (stack.length > 0) {
    const item = stack.pop()!;
    const digest = typeof item === 'string' ? item : item.digest;
    if (!isDigest(digest) || marked.has(digest)) continue;
    const info = await content.info(digest);
    if (!info) continue;
    marked.add(digest);
    const mt = typeof item === 'string' ? undefined : item.mediaType;
    const maybeJson = mt === undefined ? info.size <= 4 << 20 : isManifestMediaType(mt) || isIndexMediaType(mt);
    if (!maybeJson) continue;
    let doc: Partial<Manifest & Index>;
    try {
      // Hot path for build-cache roots (thousands of layer digests): peek one byte before reading a blob whole.
      if (mt === undefined && !(await startsWithBrace(content.blobPath(digest)))) continue;
      doc = JSON.parse((await content.readBuffer(digest)).toString('utf8'));
    } catch {
      continue;
    }
    if (doc.config && typeof doc.config === 'object') stack.push(doc.config);
    if (Array.isArray(doc.layers)) stack.push(...doc.layers);
    if (Array.isArray(doc.manifests)) stack.push(...doc.manifests);
    if (doc.subject && typeof doc.subject === 'object') stack.push(doc.subject);
  }
  return marked;
}

/** Whether a file starts with `{`: a cheap test that a blob may be JSON (a manifest, index or config) before reading it whole. */
export async function startsWithBrace(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const { bytesRead, buffer } = await fh.read(Buffer.alloc(1), 0, 1, 0);
    return bytesRead === 1 && buffer[0] === 0x7b;
  } finally {
    await fh.close();
  }
}

const lastUsed = (r: GcRootEntry) => Date.parse(r.lastUsed ?? '') || 0;

/**
 * Mark-and-sweep over `root`'s content store, holding the store lock for the whole blob collection; a full
 * collection then removes unneeded snapshots after releasing it (see the module comment).
 */
export async function collectGarbage(root: StoreRoot, opts: GcOptions = {}): Promise<GcResult> {
  const snapGc =
    (opts.snapshots ?? opts.candidates === undefined) ? await (await import('./snapshot-gc.js')).beginSnapshotGc(root, { dryRun: opts.dryRun }) : undefined;
  let keepSnapshots: Set<string> | undefined;
  const result = await root.withStoreLock(async () => {
    const started = Date.now();
    const result: GcResult = { removedBlobs: [], reclaimedBytes: 0, removedImages: [], removedRoots: [], removedSnapshots: [], snapshotBytes: 0 };
    let entries = await root.images.entries();
    if (opts.removeDangling) {
      const tagged = new Set(entries.filter((e) => e.ref).map((e) => e.descriptor.digest));
      for (const e of entries) {
        if (e.ref || tagged.has(e.descriptor.digest)) continue;
        const meta = await imageMeta(root.content, e.descriptor);
        if (opts.until && meta.created > opts.until.getTime()) continue;
        if (meta.id && opts.inUseImageIds?.has(meta.id)) continue;
        result.removedImages.push(e.descriptor.digest);
      }
      if (result.removedImages.length > 0 && !opts.dryRun) {
        await root.images.rewriteIndexLocked((idx) => {
          idx.manifests = idx.manifests.filter((d) => !result.removedImages.includes(d.digest) || d.annotations?.['org.opencontainers.image.ref.name']);
        });
      }
      entries = entries.filter((e) => !result.removedImages.includes(e.descriptor.digest) || e.ref);
    }

    const fixed: Array<Descriptor | Digest> = entries.map((e) => e.descriptor);
    for (const d of await liveLeasedDigests(root.paths.leases)) fixed.push(d);
    const extra: Digest[] = [];
    for (const f of opts.extraRoots ?? []) for (const d of await f()) extra.push(d);
    fixed.push(...extra);
    let gcRoots = await readGcRoots(root.paths.gcRoots);
    const dropRoot = async (r: GcRootEntry) => {
      result.removedRoots.push(r.name);
      if (!opts.dryRun) await rm(r.path, { force: true });
      gcRoots = gcRoots.filter((x) => x !== r);
    };
    for (const r of [...gcRoots]) {
      if (!r.prunable || !opts.all) continue;
      if (opts.until && lastUsed(r) > opts.until.getTime()) continue;
      await dropRoot(r);
    }
    if (opts.until && !opts.all) {
      for (const r of [...gcRoots]) if (r.prunable && lastUsed(r) <= opts.until.getTime()) await dropRoot(r);
    }

    const blobs: Array<{ digest: Digest; size: number }> = [];
    for await (const b of root.content.list()) blobs.push(b);
    const candidates = opts.candidates ? new Set(opts.candidates) : undefined;
    const minAge = opts.minAgeMs ?? 0;
    const sweepable = async (marked: Set<Digest>) => {
      const out: Array<{ digest: Digest; size: number }> = [];
      for (const b of blobs) {
        if (marked.has(b.digest) || (candidates && !candidates.has(b.digest))) continue;
        if (minAge > 0) {
          const st = await stat(root.content.blobPath(b.digest)).catch(() => undefined);
          if (!st || started - st.mtimeMs < minAge) continue;
        }
        out.push(b);
      }
      return out;
    };
    const markAll = () => markReachable(root.content, [...fixed, ...gcRoots.flatMap((r) => r.digests)]);
    let doomed = await sweepable(await markAll());
    if (opts.keepStorage !== undefined) {
      const total = blobs.reduce((n, b) => n + b.size, 0);
      const prunable = gcRoots.filter((r) => r.prunable).sort((a, b) => lastUsed(a) - lastUsed(b));
      while (total - doomed.reduce((n, b) => n + b.size, 0) > opts.keepStorage && prunable.length > 0) {
        await dropRoot(prunable.shift()!);
        doomed = await sweepable(await markAll());
      }
    }
    for (const b of doomed) {
      opts.signal?.throwIfAborted();
      if (!opts.dryRun) await root.content.delete(b.digest);
      result.removedBlobs.push(b.digest);
      result.reclaimedBytes += b.size;
    }
    keepSnapshots = await snapGc?.keep({ removedImages: result.removedImages, removedRoots: result.removedRoots, digests: extra });
    return result;
  });
  if (snapGc && keepSnapshots) {
    const s = await snapGc.prune(keepSnapshots, { graceMs: opts.snapshotGraceMs ?? 60_000, signal: opts.signal });
    result.removedSnapshots = s.removed;
    result.snapshotBytes = s.reclaimedBytes;
    result.reclaimedBytes += s.reclaimedBytes;
  }
  // A build-cache record keeps what its step read (for explaining misses) beside its GC root file; dropped
  // records' files go now, older orphans on any full collection. Never the snapshots: those are decided above.
  if (!opts.dryRun && opts.candidates === undefined) {
    const { sweepBuildCacheInputs } = await import('./build-cache.js');
    await sweepBuildCacheInputs(root.root, { removedRoots: result.removedRoots });
  }
  return result;
}

/** An image's config digest and creation time (0 when unknown), for `--filter until=` and in-use checks. */
async function imageMeta(content: ContentStore, d: Descriptor): Promise<{ id?: Digest; created: number }> {
  try {
    const m = await content.readJson<Manifest>(d.digest);
    if (!m.config) return { created: 0 };
    const c = await content.readJson<{ created?: string }>(m.config.digest);
    return { id: m.config.digest, created: Date.parse(c.created ?? '') || 0 };
  } catch {
    return { created: 0 };
  }
}
