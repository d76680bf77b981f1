/**
 * The persistent build-cache index: cache key → the result of a step (its layer blobs and the committed snapshot
 * of its rootfs). One small JSON file per record under `<root>/build-cache/records/`, written by rename, so every
 * build on one root (several processes included) shares it and it survives restarts. A hit is one readFile.
 *
 * Least-recently-used metadata is the record file's mtime, bumped on every hit (one utimes, no rewrite). `kiln
 * prune` reads `buildCacheRoots()` as GC roots (the blobs and snapshots records keep alive) and trims records
 * oldest-first with `pruneBuildCache()`.
 *
 * "Slots" remember the latest record for one position in one Dockerfile (and for one instruction text there), so
 * a miss can be explained against the closest earlier record (src/builder/explain.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Descriptor, Digest } from '../image/types.js';

export type LayerCompression = 'gzip' | 'zstd' | 'none';

/** What a step read, kept so a later miss can say what changed. Never holds secrets (only their ids). */
export interface StepInputs {
  /** The normalized op (as it entered the key). */
  op: Record<string, unknown>;
  /** Identity of the rootfs the step started from. */
  parent: string;
  /** Human description of the parent (`FROM busybox@sha256:…`, `step 3: RUN …`) for explanations. */
  parentDesc?: string;
  /** Content digests of named inputs (COPY sources, `--from` stages). */
  inputs?: Record<string, string>;
  /** Per-file digests of COPY/ADD sources (path → digest), to name the file that changed. Capped in size. */
  files?: Record<string, string>;
}

export interface LayerResult {
  diffId: Digest;
  /** Uncompressed tar size in bytes. */
  size: number;
  /** The layer as stored, per compression produced so far. */
  blobs: Partial<Record<LayerCompression, Descriptor>>;
}

export interface CacheRecord {
  key: Digest;
  created: string;
  inputs: StepInputs;
  result: {
    /** ChainID of the rootfs after the step ('' for empty); equals the parent's when the step changed nothing. */
    chainId: string;
    /** Committed snapshot holding the rootfs after the step (undefined for an empty rootfs). */
    snapshot?: string;
    /** Undefined when the step's diff was empty (history gets `empty_layer`). */
    layer?: LayerResult;
  };
}

/** The index API; `openBuildCache(root)` gives one. All methods are safe across processes. */
export interface BuildCache {
  get(key: Digest): Promise<CacheRecord | undefined>;
  put(record: CacheRecord): Promise<void>;
  /** Adds a compressed variant of a record's layer (another `--compression`). */
  addBlob(key: Digest, compression: LayerCompression, desc: Descriptor): Promise<void>;
  /** Remembers `key` as the latest record for each slot id. */
  setSlots(slots: string[], key: Digest): Promise<void>;
  /** The latest record of the first slot that has one. */
  fromSlots(slots: string[]): Promise<CacheRecord | undefined>;
  list(): Promise<Array<CacheRecord & { lastUsed: number }>>;
  delete(key: Digest): Promise<void>;
  /** Where persistent `RUN --mount=type=cache` directories live. */
  readonly mountsDir: string;
}

function hex(key: string): string {
  return key.startsWith('sha256:') ? key.slice(7) : createHash('sha256').update(key).digest('hex');
}

/** Write-then-rename without fsync: a record lost in a power cut is only a cache miss, and fsync costs ms per step. */
async function writeAtomic(path: string, data: string): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/** A stable slot id from its parts (Dockerfile path, stage, position or text). */
export function slotId(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex');
}

/** Opens (creating) the index under `<root>/build-cache/`. Cheap: makes three directories at most. */
export async function openBuildCache(root: string): Promise<BuildCache> {
  const base = join(root, 'build-cache');
  const recDir = join(base, 'records');
  const slotDir = join(base, 'slots');
  const mountsDir = join(base, 'mounts');
  await Promise.all([recDir, slotDir, mountsDir].map((d) => mkdir(d, { recursive: true })));
  const recPath = (key: string) => join(recDir, `${hex(key)}.json`);

  async function read(key: string): Promise<CacheRecord | undefined> {
    try {
      return JSON.parse(await readFile(recPath(key), 'utf8')) as CacheRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || err instanceof SyntaxError) return undefined;
      throw err;
    }
  }

  return {
    mountsDir,
    async get(key) {
      const rec = await read(key);
      if (rec) {
        const now = new Date();
        await utimes(recPath(key), now, now).catch(() => {});
      }
      return rec;
    },
    async put(record) {
      await writeAtomic(recPath(record.key), JSON.stringify(record));
    },
    async addBlob(key, compression, desc) {
      const rec = await read(key);
      if (!rec?.result.layer) return;
      rec.result.layer.blobs[compression] = desc;
      await writeAtomic(recPath(key), JSON.stringify(rec));
    },
    async setSlots(slots, key) {
      await Promise.all(slots.map((s) => writeAtomic(join(slotDir, s), key)));
    },
    async fromSlots(slots) {
      for (const s of slots) {
        let key: string;
        try {
          key = (await readFile(join(slotDir, s), 'utf8')).trim();
        } catch {
          continue;
        }
        const rec = await read(key);
        if (rec) return rec;
      }
      return undefined;
    },
    async list() {
      const out: Array<CacheRecord & { lastUsed: number }> = [];
      for (const name of await readdir(recDir).catch(() => [] as string[])) {
        if (!name.endsWith('.json')) continue;
        const p = join(recDir, name);
        try {
          const [text, st] = await Promise.all([readFile(p, 'utf8'), stat(p)]);
          out.push({ ...(JSON.parse(text) as CacheRecord), lastUsed: st.mtimeMs });
        } catch {
          // a record removed or half-written by another process: not ours to report
        }
      }
      return out;
    },
    async delete(key) {
      await unlink(recPath(key)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    },
  };
}

/** What the build cache keeps alive, for the garbage collector: blob digests and snapshot keys. */
export async function buildCacheRoots(root: string): Promise<{ blobs: Set<Digest>; snapshots: Set<string> }> {
  const cache = await openBuildCache(root);
  const blobs = new Set<Digest>();
  const snapshots = new Set<string>();
  for (const rec of await cache.list()) {
    if (rec.result.snapshot) snapshots.add(rec.result.snapshot);
    for (const d of Object.values(rec.result.layer?.blobs ?? {})) if (d) blobs.add(d.digest);
  }
  return { blobs, snapshots };
}

/**
 * Drops build-cache records least recently used first until the records' layers total at most `keepBytes`
 * (0 or undefined: drop all). Returns the removed records; the caller's GC then frees what they alone kept alive.
 */
export async function pruneBuildCache(root: string, opts: { keepBytes?: number } = {}): Promise<CacheRecord[]> {
  const cache = await openBuildCache(root);
  const recs = (await cache.list()).sort((a, b) => b.lastUsed - a.lastUsed);
  const keep = opts.keepBytes ?? 0;
  let total = 0;
  const removed: CacheRecord[] = [];
  for (const rec of recs) {
    const size = Math.max(rec.result.layer?.size ?? 0, ...Object.values(rec.result.layer?.blobs ?? {}).map((d) => d?.size ?? 0));
    if (keep > 0 && total + size <= keep) {
      total += size;
      continue;
    }
    await cache.delete(rec.key);
    removed.push(rec);
  }
  return removed;
}
