/**
 * The persistent build-cache index: cache key → the result of a step (its layer blobs and the committed snapshot
 * of its rootfs). Every build on one root (several processes included) shares it and it survives restarts.
 *
 * Each record IS a GC root file of the store (src/cache/gc.ts): `<root>/gc-roots/build-cache-<hex>.json` holds
 * `{ digests, kind: 'build-cache', lastUsed, prunable: true }` plus the record's result, so `kiln prune` keeps
 * the layers a record needs, trims records least recently used first (`lastUsed`, bumped on hits at most once a
 * minute) and removing the file is the whole eviction: a missing file is a miss. A hit is one readFile.
 * What a step read (for explaining misses, possibly thousands of file digests) lives apart in
 * `<root>/build-cache/inputs/<hex>.json`, read only when a step misses.
 *
 * "Slots" remember the latest record for one position in one Dockerfile (and for one instruction text there), so
 * a miss can be explained against the closest earlier record (src/builder/explain.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ownerToken } from './lock.js';
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

/** A record as stored in its GC root file. */
interface RootFile {
  digests: Digest[];
  kind: 'build-cache';
  lastUsed: string;
  prunable: true;
  key: Digest;
  created: string;
  result: CacheRecord['result'];
}

/** The index API; `openBuildCache(root)` gives one. All methods are safe across processes. */
export interface BuildCache {
  /** The record for `key` (without `inputs`; see `inputsOf`), or undefined. Marks it used. */
  get(key: Digest): Promise<CacheRecord | undefined>;
  put(record: CacheRecord): Promise<void>;
  /** What the step behind `key` read, if kept. */
  inputsOf(key: Digest): Promise<StepInputs | undefined>;
  /** Adds a compressed variant of a record's layer (another `--compression`). */
  addBlob(key: Digest, compression: LayerCompression, desc: Descriptor): Promise<void>;
  /** Remembers `key` as the latest record for each slot id. */
  setSlots(slots: string[], key: Digest): Promise<void>;
  /** The latest record of the first slot that has one (the closest earlier record): its key and inputs. */
  fromSlots(slots: string[]): Promise<{ key: Digest; inputs: StepInputs } | undefined>;
  list(): Promise<Array<CacheRecord & { lastUsed: number }>>;
  delete(key: Digest): Promise<void>;
  /** Where persistent `RUN --mount=type=cache` directories live. */
  readonly mountsDir: string;
}

function hex(key: string): string {
  return key.startsWith('sha256:') ? key.slice(7) : createHash('sha256').update(key).digest('hex');
}

/**
 * Write-then-rename without fsync: a record lost in a power cut is only a cache miss, and fsync costs ms per step.
 * The temp name carries the owner token (`<file>.<pid.starttime>.<hex>.tmp`): a killed build's leftover is
 * told from a live one's by the start-up sweep (tmp-sweep.ts) and `kiln prune`.
 */
async function writeAtomic(path: string, data: string): Promise<void> {
  const tmp = `${path}.${ownerToken()}.${randomBytes(6).toString('hex')}.tmp`;
  // Asynchronous, unlike the reads: a write can wait for a journal commit while a large layer is flushed, and a
  // synchronous one would stall every build of the process meanwhile.
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/**
 * Reads a small JSON file synchronously: a cached step reads its record and slots, and an async read is four
 * thread-pool round trips (measured 165 µs against 11 µs for a 100-byte file), most of a no-op step's cost.
 */
function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || err instanceof SyntaxError) return undefined;
    throw err;
  }
}

/** A small file's text, or '' when it cannot be read. */
function readSmall(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** A stable slot id from its parts (Dockerfile path, stage, position or text). */
export function slotId(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex');
}

const ROOT_PREFIX = 'build-cache-';
/** Hits refresh `lastUsed` at most this often, so a no-op rebuild does not rewrite every record. */
const TOUCH_AFTER_MS = 60_000;

/** Opens (creating) the index of the state root `root`. Cheap: makes a few directories at most. */
export async function openBuildCache(root: string): Promise<BuildCache> {
  const base = join(root, 'build-cache');
  const rootsDir = join(root, 'gc-roots');
  const inputsDir = join(base, 'inputs');
  const slotDir = join(base, 'slots');
  const mountsDir = join(base, 'mounts');
  await Promise.all([rootsDir, inputsDir, slotDir, mountsDir].map((d) => mkdir(d, { recursive: true })));
  const rootPath = (key: string) => join(rootsDir, `${ROOT_PREFIX}${hex(key)}.json`);
  const inputsPath = (key: string) => join(inputsDir, `${hex(key)}.json`);
  const toRecord = (f: RootFile): CacheRecord => ({ key: f.key, created: f.created, inputs: { op: {}, parent: '' }, result: f.result });

  async function write(rec: CacheRecord, lastUsed: Date): Promise<void> {
    const digests = Object.values(rec.result.layer?.blobs ?? {})
      .filter((d): d is Descriptor => !!d)
      .map((d) => d.digest);
    const file: RootFile = {
      digests,
      kind: 'build-cache',
      lastUsed: lastUsed.toISOString(),
      prunable: true,
      key: rec.key,
      created: rec.created,
      result: rec.result,
    };
    await writeAtomic(rootPath(rec.key), JSON.stringify(file));
  }

  return {
    mountsDir,
    async get(key) {
      const f = readJson<RootFile>(rootPath(key));
      if (!f || f.key !== key) return undefined;
      const rec = toRecord(f);
      if (Date.now() - (Date.parse(f.lastUsed) || 0) > TOUCH_AFTER_MS) await write(rec, new Date()).catch(() => {});
      return rec;
    },
    async put(record) {
      await writeAtomic(inputsPath(record.key), JSON.stringify(record.inputs));
      await write(record, new Date());
    },
    inputsOf: async (key) => readJson<StepInputs>(inputsPath(key)),
    async addBlob(key, compression, desc) {
      const f = readJson<RootFile>(rootPath(key));
      if (!f?.result.layer) return;
      f.result.layer.blobs[compression] = desc;
      await write(toRecord(f), new Date());
    },
    async setSlots(slots, key) {
      // Every step of every build sets its slots, and a rebuild mostly finds them naming this key already: reading
      // a 71-byte file is a third of a write-and-rename (profiled: 0.7 ms per cached step, most of a no-op's
      // steps), so an unchanged slot is left alone. A concurrent build setting another key races as before.
      await Promise.all(
        slots.map(async (s) => {
          const path = join(slotDir, s);
          if (readSmall(path) === key) return;
          await writeAtomic(path, key);
        }),
      );
    },
    async fromSlots(slots) {
      for (const s of slots) {
        let key: string;
        try {
          key = readFileSync(join(slotDir, s), 'utf8').trim();
        } catch {
          continue;
        }
        const inputs = readJson<StepInputs>(inputsPath(key));
        if (inputs) return { key, inputs };
      }
      return undefined;
    },
    async list() {
      const out: Array<CacheRecord & { lastUsed: number }> = [];
      for (const name of await readdir(rootsDir).catch(() => [] as string[])) {
        if (!name.startsWith(ROOT_PREFIX) || !name.endsWith('.json')) continue;
        let f: RootFile | undefined;
        try {
          f = readJson<RootFile>(join(rootsDir, name));
        } catch {
          continue; // unreadable: not listed, as a missing one
        }
        if (f?.key) out.push({ ...toRecord(f), lastUsed: Date.parse(f.lastUsed) || 0 });
      }
      return out;
    },
    async delete(key) {
      await Promise.all([rm(rootPath(key), { force: true }), rm(inputsPath(key), { force: true })]);
    },
  };
}

/** What the build cache keeps alive, for snapshot clean-up: blob digests and snapshot keys of live records. */
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
 * (0 or undefined: drop all). Returns the removed records. `kiln prune` does the same through the GC root files;
 * this is for callers that want to trim the index alone.
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

/**
 * Removes the inputs files (`<root>/build-cache/inputs/<hex>.json`) of records whose GC root file is gone: at once
 * for the records named in `removedRoots` (GC root file names a collection just dropped), after `minAgeMs`
 * (default one minute) for any other orphan, because `put` writes a record's inputs just before its root file.
 * Touches nothing else (no snapshots), so `kiln prune` runs it after every collection. Returns the count removed.
 */
export async function sweepBuildCacheInputs(
  root: string,
  opts: { removedRoots?: Iterable<string>; minAgeMs?: number; dryRun?: boolean } = {},
): Promise<number> {
  const inputsDir = join(root, 'build-cache', 'inputs');
  const names = await readdir(inputsDir).catch(() => [] as string[]);
  if (names.length === 0) return 0;
  // A record is alive while its root file exists; its name carries the key (no need to read the file).
  const live = new Set(
    (await readdir(join(root, 'gc-roots')).catch(() => [] as string[])).filter((n) => n.startsWith(ROOT_PREFIX)).map((n) => n.slice(ROOT_PREFIX.length)),
  );
  const dropped = new Set([...(opts.removedRoots ?? [])].filter((n) => n.startsWith(ROOT_PREFIX)).map((n) => n.slice(ROOT_PREFIX.length)));
  const minAge = opts.minAgeMs ?? 60_000;
  let removed = 0;
  for (const name of names) {
    if (!name.endsWith('.json') || name.startsWith('.') || live.has(name)) continue;
    const path = join(inputsDir, name);
    if (!dropped.has(name) && minAge > 0) {
      const st = await stat(path).catch(() => undefined);
      if (!st || Date.now() - st.mtimeMs < minAge) continue;
    }
    if (!opts.dryRun) await rm(path, { force: true });
    removed++;
  }
  return removed;
}
