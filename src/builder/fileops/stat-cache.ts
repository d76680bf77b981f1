/**
 * A persistent map from a file's identity and change stamps — (dev, inode, size, mtime, ctime) — to the sha256 of
 * its content, so a rebuild re-hashes only files that changed. ctime matters: writing the same number of bytes and
 * resetting mtime (`touch -d`, `cp -p`, tar) still moves ctime, which no user can set.
 *
 * Racy-clean rule (git's "racy git" problem): timestamps tick only every few milliseconds, so a file hashed in the
 * same tick it was written could be rewritten with identical stamps. Entries whose ctime is less than RACY_MS old
 * when hashed are used for this run but never persisted.
 *
 * File format: `<root>/build-cache/stat-cache.v1`, one entry a line, `dev ino size mtimeMs ctimeMs sha256hex`;
 * written to a temp file and renamed, so readers never see half a file. Concurrent builds may drop each other's
 * additions (last writer wins); it is only a cache.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';

const RACY_MS = 2000;
/** Beyond this many entries the oldest are dropped on flush (≈ 100 bytes each: 20 MB). */
const MAX_ENTRIES = 200_000;

export interface StatCache {
  /** The content hash (hex) recorded for a file with exactly these stamps, or undefined. */
  lookup(st: Stats): string | undefined;
  /** Records a content hash just computed for `st` (`hashedAt`: when hashing started, ms). */
  store(st: Stats, hashHex: string, hashedAt?: number): void;
  /** Writes the cache file when something was added. */
  flush(): void;
  /** Counters for tests and benchmarks. */
  readonly counters: { hits: number; misses: number };
}

interface Row { size: number; mtime: number; ctime: number; hash: string; persist: boolean }

/** The stat cache file's path under a kiln state root. */
export function statCachePath(stateRoot: string): string {
  return join(stateRoot, 'build-cache', 'stat-cache.v1');
}

export interface StatCacheOptions {
  /** Entries younger than this (ms, by ctime/mtime) are not persisted; default 2000. Tests pass 0. */
  racyMs?: number;
}

/** Opens (loads) the stat cache at `file`; a missing or unreadable file starts empty. */
export function openStatCache(file: string, opts: StatCacheOptions = {}): StatCache {
  const racyMs = opts.racyMs ?? RACY_MS;
  const rows = new Map<string, Row>();
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const f = line.split(' ');
      if (f.length !== 6) continue;
      rows.set(`${f[0]}:${f[1]}`, { size: Number(f[2]), mtime: Number(f[3]), ctime: Number(f[4]), hash: f[5], persist: true });
    }
  } catch {
    // First use, or a damaged file: start over.
  }
  let dirty = false;
  const counters = { hits: 0, misses: 0 };
  return {
    counters,
    lookup(st) {
      const row = rows.get(`${st.dev}:${st.ino}`);
      if (row && row.size === st.size && row.mtime === st.mtimeMs && row.ctime === st.ctimeMs) {
        counters.hits++;
        return row.hash;
      }
      counters.misses++;
      return undefined;
    },
    store(st, hash, hashedAt = Date.now()) {
      const persist = hashedAt - Math.max(st.ctimeMs, st.mtimeMs) >= racyMs;
      const key = `${st.dev}:${st.ino}`;
      rows.delete(key); // re-insert at the end: Map order is the eviction order
      rows.set(key, { size: st.size, mtime: st.mtimeMs, ctime: st.ctimeMs, hash, persist });
      if (persist) dirty = true;
    },
    flush() {
      if (!dirty) return;
      const lines: string[] = [];
      let skip = Math.max(0, rows.size - MAX_ENTRIES);
      for (const [key, r] of rows) {
        if (skip > 0) { skip--; continue; }
        if (!r.persist) continue;
        const [dev, ino] = key.split(':');
        lines.push(`${dev} ${ino} ${r.size} ${r.mtime} ${r.ctime} ${r.hash}`);
      }
      mkdirSync(dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
      writeFileSync(tmp, lines.join('\n') + '\n');
      renameSync(tmp, file);
      dirty = false;
    },
  };
}

/** A cache that remembers nothing (tests, `--no-cache`). */
export function noStatCache(): StatCache {
  const counters = { hits: 0, misses: 0 };
  return { counters, lookup: () => { counters.misses++; return undefined; }, store: () => {}, flush: () => {} };
}
