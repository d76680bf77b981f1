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
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { FileStat } from './scan.js';
import { dirname, join } from 'node:path';

const RACY_MS = 2000;
/** Beyond this many entries the oldest are dropped on flush (≈ 100 bytes each: 20 MB). */
const MAX_ENTRIES = 200_000;

export interface StatCache {
  /** The content hash (hex) recorded for a file with exactly these stamps, or undefined. */
  lookup(st: FileStat): string | undefined;
  /** Records a content hash just computed for `st` (`hashedAt`: when hashing started, ms). */
  store(st: FileStat, hashHex: string, hashedAt?: number): void;
  /** Writes the cache file when something was added. */
  flush(): void;
  /** Counters for tests and benchmarks. */
  readonly counters: { hits: number; misses: number };
}

interface Row {
  size: number;
  mtime: number;
  ctime: number;
  hash: string;
  persist: boolean;
}

/** The stat cache file's path under a kiln state root. */
export function statCachePath(stateRoot: string): string {
  return join(stateRoot, 'build-cache', 'stat-cache.v1');
}

export interface StatCacheOptions {
  /** Entries younger than this (ms, by ctime/mtime) are not persisted; default 2000. Tests pass 0. */
  racyMs?: number;
}

/** Lookups answered by searching the file's text before parsing it whole: a small context needs only a few. */
const SCAN_LOOKUPS = 8;

/**
 * Opens the stat cache at `file`; a missing or unreadable file starts empty. Hot path on every build, and one
 * root's file holds every context's files (5,000 lines took ~8-12 ms to parse): the text is kept as read, the
 * first few lookups search it directly, and only a build that looks up more files parses it whole.
 */
export function openStatCache(file: string, opts: StatCacheOptions = {}): StatCache {
  const racyMs = opts.racyMs ?? RACY_MS;
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // First use, or a damaged file: start over.
  }
  /** The file's rows then this process's (Map order is the eviction order); undefined until parsed. */
  let rows: Map<string, Row> | undefined;
  /** Entries stored before the file was parsed: they win over its lines. */
  const added = new Map<string, Row>();
  let lookups = 0;
  let dirty = false;
  const counters = { hits: 0, misses: 0 };

  const parsed = (): Map<string, Row> => {
    if (rows) return rows;
    rows = new Map();
    for (const line of text.split('\n')) {
      const f = line.split(' ');
      if (f.length !== 6) continue;
      rows.set(`${f[0]}:${f[1]}`, { size: Number(f[2]), mtime: Number(f[3]), ctime: Number(f[4]), hash: f[5]!, persist: true });
    }
    for (const [key, r] of added) {
      rows.delete(key);
      rows.set(key, r);
    }
    added.clear();
    text = '';
    return rows;
  };
  /** The file's last line for `dev ino` (a later line wins, as in the parsed map), without parsing the rest. */
  const scan = (dev: number, ino: number): Row | undefined => {
    const needle = `${dev} ${ino} `;
    const i = text.lastIndexOf(`\n${needle}`);
    const at = i >= 0 ? i + 1 : text.startsWith(needle) ? 0 : -1;
    if (at < 0) return undefined;
    const end = text.indexOf('\n', at);
    const f = text.slice(at, end < 0 ? text.length : end).split(' ');
    if (f.length !== 6) return undefined;
    return { size: Number(f[2]), mtime: Number(f[3]), ctime: Number(f[4]), hash: f[5]!, persist: true };
  };

  return {
    counters,
    lookup(st) {
      const key = `${st.dev}:${st.ino}`;
      let row: Row | undefined;
      if (rows) row = rows.get(key);
      else if (!(row = added.get(key)) && text) row = ++lookups > SCAN_LOOKUPS ? parsed().get(key) : scan(st.dev, st.ino);
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
      const map = rows ?? added;
      map.delete(key); // re-insert at the end: Map order is the eviction order
      map.set(key, { size: st.size, mtime: st.mtimeMs, ctime: st.ctimeMs, hash, persist });
      if (persist) dirty = true;
    },
    flush() {
      if (!dirty) return;
      const all = parsed();
      const lines: string[] = [];
      let skip = Math.max(0, all.size - MAX_ENTRIES);
      for (const [key, r] of all) {
        if (skip > 0) {
          skip--;
          continue;
        }
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
  return {
    counters,
    lookup: () => {
      counters.misses++;
      return undefined;
    },
    store: () => {},
    flush: () => {},
  };
}
