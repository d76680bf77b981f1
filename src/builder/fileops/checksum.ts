/**
 * The content checksum of a COPY/ADD's sources, for the step's cache key: a digest over every selected path with
 * its type, mode (incl. setuid/setgid/sticky), owner, size, symlink target, device numbers and content hash —
 * never mtime or atime, so a fresh checkout of the same files hits the cache. Alongside it a manifest (path →
 * per-entry digest) lets `--explain` name exactly which path changed, appeared or disappeared.
 *
 * Selection is select.ts's, the same the copy uses. Content hashes come from the stat cache when a file's
 * (dev, inode, size, mtime, ctime) is unchanged, so a no-op rebuild costs one lstat per file; with an entry memo
 * (the builder keeps one) an unchanged entry's whole record is reused too.
 */
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, readlinkSync } from 'node:fs';
import { posix } from 'node:path';
import type { Digest } from '../../image/types.js';
import { KilnError } from '../../errors.js';
import { selectSources, type SelectOptions, type SelectedSource } from './select.js';
import { noStatCache, type StatCache } from './stat-cache.js';
import type { FileStat } from './scan.js';

/** Path (as `/`-rooted in its source root) → that entry's record (type, mode, owner, size, link, content hash prefix). */
export type ChecksumManifest = Record<string, string>;

export interface SourceChecksum {
  /** `sha256:…` over the patterns, their matches and every entry's full record, in order. */
  digest: Digest;
  manifest: ChecksumManifest;
  /** Files whose content was hashed (stat cache misses), for tests and benchmarks. */
  hashed: number;
}

export interface ChecksumOptions extends SelectOptions {
  /** Content hashes of unchanged files; default none (hash everything). */
  statCache?: StatCache;
  /**
   * `reset`: owners are left out (read as 0:0), because the copy writes context files as root, as BuildKit's
   * context transfer does; a `chown` in the context then cannot cause a miss. `keep` (stages, images): owners count.
   */
  ownership?: 'keep' | 'reset';
  signal?: AbortSignal;
  /**
   * Manifest paths `rooted` (`/src/app.js`, the default) or `relative` as a user writes them (`src/app.js`,
   * normalised, the source itself `''` or its path).
   */
  manifestPaths?: 'rooted' | 'relative';
  /** Records of entries seen by earlier checksums in this process (see EntryMemo); default none. */
  memo?: EntryMemo;
}

/**
 * Each entry's record as last computed, by host path, with the lstat fields it was computed from: an entry whose
 * fields are all unchanged has the same record (the content hash is trusted on the stat cache's own terms, the
 * racy rule included), so a no-op rebuild of a large context reuses them instead of rebuilding every string.
 * Kept by the builder for its lifetime; cleared past MEMO_MAX entries.
 */
export interface EntryMemo {
  rows: Map<string, MemoRow>;
  /** Entries changed less than this long (ms) before a checksum began are not kept (the stat cache's racy rule). */
  racyMs: number;
}

interface MemoRow {
  dev: number;
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ownership: 'keep' | 'reset';
  rec: string;
  short: string;
}

const MEMO_MAX = 200_000;

/**
 * An empty memo. `racyMs` (default 2000, as the stat cache): timestamps tick coarsely, so a file rewritten within
 * the tick it was read in keeps its stamps; a record is trusted only for files older than that when read.
 */
export function createEntryMemo(opts: { racyMs?: number } = {}): EntryMemo {
  return { rows: new Map(), racyMs: opts.racyMs ?? 2000 };
}

function memoHit(m: MemoRow | undefined, st: FileStat, ownership: 'keep' | 'reset'): m is MemoRow {
  return (
    m !== undefined &&
    m.ino === st.ino &&
    m.mtimeMs === st.mtimeMs &&
    m.ctimeMs === st.ctimeMs &&
    m.size === st.size &&
    m.dev === st.dev &&
    m.mode === st.mode &&
    m.uid === st.uid &&
    m.gid === st.gid &&
    m.rdev === st.rdev &&
    m.ownership === ownership
  );
}

/** Files at most this big are read in one call; bigger ones are streamed. */
const SMALL_FILE = 1 << 20;
/** Concurrent streamed hashes: enough to overlap I/O and hashing on two cores. */
const HASH_CONCURRENCY = 4;

/**
 * Checksums the sources `patterns` select inside `root` (build context or a stage's rootfs). Throws
 * COPY_SOURCE_NOT_FOUND like the copy would, CANCELLED when `signal` aborts.
 */
export async function checksumSources(root: string, patterns: readonly string[], opts: ChecksumOptions = {}): Promise<SourceChecksum> {
  const selected = selectSources(root, patterns, opts);
  return checksumSelection(selected, opts);
}

/** Checksums an already made selection (the copy path calls selectSources once and reuses it). */
export async function checksumSelection(selected: readonly SelectedSource[], opts: ChecksumOptions = {}): Promise<SourceChecksum> {
  const cache = opts.statCache ?? noStatCache();
  const memo = opts.memo;
  const ownership = opts.ownership ?? 'keep';
  const started = Date.now();
  const contentHash = new Map<string, string>();
  const pending: Array<{ abs: string; st: FileStat }> = [];
  let hashed = 0;
  /** Per entry, in selection order: its memoised row when its stamps still match. */
  const reused: Array<MemoRow | undefined> = [];
  for (const src of selected) {
    for (const e of src.entries) {
      const m = memo?.rows.get(e.abs);
      const hit = memoHit(m, e.st, ownership);
      reused.push(hit ? m : undefined);
      if (hit || !e.st.isFile()) continue;
      const known = cache.lookup(e.st);
      if (known !== undefined) contentHash.set(e.abs, known);
      else if (e.st.size <= SMALL_FILE) {
        const h = createHash('sha256').update(readFileSync(e.abs)).digest('hex');
        contentHash.set(e.abs, h);
        cache.store(e.st, h, started);
        hashed++;
      } else pending.push({ abs: e.abs, st: e.st });
    }
  }
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < pending.length) {
      const job = pending[next++];
      if (opts.signal?.aborted) throw new KilnError('CANCELLED', 'checksum cancelled');
      const h = await hashFile(job.abs, opts.signal);
      contentHash.set(job.abs, h);
      cache.store(job.st, h, started);
      hashed++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(HASH_CONCURRENCY, pending.length) }, worker));
  cache.flush();
  if (memo && memo.rows.size > MEMO_MAX) memo.rows.clear();

  const relative = opts.manifestPaths === 'relative';
  const manifest: ChecksumManifest = {};
  const total = createHash('sha256').update('kiln-sources-v2\n');
  // Hot path: records are hashed in batches of ~64 KiB (one update per entry cost a native call each).
  let batch = '';
  let i = 0;
  for (const src of selected) {
    batch += `source ${JSON.stringify(src.pattern)} ${JSON.stringify(src.path)}\n`;
    const base = src.path === '' ? '' : `/${src.path}`;
    // Below the source, names hold no '/' and are never '.' or '..': only the source's own path needs normalising.
    const top = relative ? posix.normalize(base || '/').replace(/^\/+/, '') : base || '/';
    const prefix = relative ? top.replace(/\/+$/, '') : base;
    for (const e of src.entries) {
      const key = e.rel === '' ? top : prefix === '' && relative ? e.rel : `${prefix}/${e.rel}`;
      let m = reused[i++];
      if (!m) {
        const content = contentHash.get(e.abs);
        const rec = entryRecord(e.st, e.abs, content, ownership);
        m = { ...stamps(e.st), ownership, rec, short: shortRecord(rec, content) };
        if (memo && started - Math.max(e.st.ctimeMs, e.st.mtimeMs) >= memo.racyMs) memo.rows.set(e.abs, m);
      }
      manifest[key] = m.short;
      batch += `${JSON.stringify(e.rel)} ${m.rec}\n`;
      if (batch.length >= 65536) {
        total.update(batch);
        batch = '';
      }
    }
  }
  total.update(batch);
  return { digest: `sha256:${total.digest('hex')}`, manifest, hashed };
}

function stamps(st: FileStat): Omit<MemoRow, 'ownership' | 'rec' | 'short'> {
  return { dev: st.dev, ino: st.ino, mode: st.mode, uid: st.uid, gid: st.gid, rdev: st.rdev, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
}

/**
 * One entry's record: `<type><mode octal> <uid:gid> <size>[ -> <link>][ dev=<rdev>][ <content sha256>]`, e.g.
 * `f644 0:0 15 9f86d0…`. The full record enters the digest; the manifest keeps it with the content hash cut to
 * 16 hex digits, small enough to store per file and readable enough for `--explain` to say what changed
 * (mode, owner, content, link target). Hot path: no per-entry hashing.
 */
function entryRecord(st: FileStat, abs: string, content: string | undefined, ownership: 'keep' | 'reset'): string {
  const type = st.isFile()
    ? 'f'
    : st.isDirectory()
      ? 'd'
      : st.isSymbolicLink()
        ? 'l'
        : st.isCharacterDevice()
          ? 'c'
          : st.isBlockDevice()
            ? 'b'
            : st.isFIFO()
              ? 'p'
              : 's';
  let rec = `${type}${(st.mode & 0o7777).toString(8)} ${ownership === 'keep' ? `${st.uid}:${st.gid}` : '0:0'} ${type === 'f' ? st.size : 0}`;
  if (type === 'l') rec += ` -> ${JSON.stringify(readLink(abs))}`;
  if (type === 'c' || type === 'b') rec += ` dev=${st.rdev}`;
  if (content !== undefined) rec += ` ${content}`;
  return rec;
}

/** The manifest form of a record: the content hash shortened (collisions there only blur an explanation). */
function shortRecord(rec: string, content: string | undefined): string {
  return content === undefined ? rec : rec.slice(0, rec.length - content.length + 16);
}

function readLink(abs: string): string {
  try {
    return readlinkSync(abs);
  } catch {
    return '';
  }
}

async function hashFile(abs: string, signal?: AbortSignal): Promise<string> {
  const h = createHash('sha256');
  const stream = createReadStream(abs, { highWaterMark: 1 << 20, signal });
  for await (const chunk of stream) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** What differs between two manifests, each list sorted: for `--explain` ("file changed: /src/app.js"). */
export function diffManifests(before: ChecksumManifest, after: ChecksumManifest): { changed: string[]; added: string[]; removed: string[] } {
  const changed: string[] = [];
  const added: string[] = [];
  const removed: string[] = [];
  for (const [k, v] of Object.entries(after)) {
    if (!(k in before)) added.push(k);
    else if (before[k] !== v) changed.push(k);
  }
  for (const k of Object.keys(before)) if (!(k in after)) removed.push(k);
  return { changed: changed.sort(), added: added.sort(), removed: removed.sort() };
}

/**
 * What changed between two manifest records of one path, in words: `content`, `mode 644 → 755`,
 * `owner 0:0 → 1000:1000`, `type file → symlink`, `link target "a" → "b"`, `size 10 → 12`. For `--explain`
 * ("file changed: /src/app.js (content)"). Records that do not parse yield `metadata`.
 */
export function describeEntryChange(before: string, after: string): string {
  const parse = (r: string) => {
    const m = /^([a-z])([0-7]+) (\S+) (\d+)(?: -> ("(?:[^"\\]|\\.)*"))?(?: dev=(\d+))?(?: ([0-9a-f]+))?$/.exec(r);
    return m ? { type: m[1], mode: m[2], owner: m[3], size: m[4], link: m[5], dev: m[6], content: m[7] } : undefined;
  };
  const a = parse(before);
  const b = parse(after);
  if (!a || !b) return 'metadata';
  const names: Record<string, string> = { f: 'file', d: 'directory', l: 'symlink', c: 'char device', b: 'block device', p: 'fifo', s: 'socket' };
  if (a.type !== b.type) return `type ${names[a.type] ?? a.type} → ${names[b.type] ?? b.type}`;
  const out: string[] = [];
  if (a.content !== b.content) out.push('content');
  if (a.mode !== b.mode) out.push(`mode ${a.mode} → ${b.mode}`);
  if (a.owner !== b.owner) out.push(`owner ${a.owner} → ${b.owner}`);
  if (a.link !== b.link) out.push(`link target ${a.link} → ${b.link}`);
  if (a.dev !== b.dev) out.push('device numbers');
  if (out.length === 0 && a.size !== b.size) out.push(`size ${a.size} → ${b.size}`);
  return out.join(', ') || 'metadata';
}
