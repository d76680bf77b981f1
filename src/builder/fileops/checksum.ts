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
  /** Frozen when it comes from the memo: copy it to add to it. */
  manifest: Readonly<ChecksumManifest>;
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
  /**
   * Whole results by selection (patterns, matches, options), with every entry's name and stamps: a no-op rebuild
   * finds them all unchanged in one comparison loop and reuses the digest and manifest (a frozen object) as they
   * are, without a record or manifest key per entry. Any difference falls back to the per-entry rows.
   */
  selections: Map<string, SelectionRow>;
  /** Entries changed less than this long (ms) before a checksum began are not kept (the stat cache's racy rule). */
  racyMs: number;
}

interface SelectionRow {
  rels: string[];
  /** STAMPS numbers per entry, in selection order. */
  stamps: Float64Array;
  digest: Digest;
  manifest: Readonly<ChecksumManifest>;
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

/** Entry rows kept, and entries over all kept selections: past either, that map starts afresh (~100 MB at most). */
const MEMO_MAX = 200_000;
const SELECTION_ENTRIES_MAX = 200_000;
/** Stamps compared per entry: dev, ino, mode, uid, gid, rdev, size, mtime, ctime. */
const STAMPS = 9;

/**
 * An empty memo. `racyMs` (default 2000, as the stat cache): timestamps tick coarsely, so a file rewritten within
 * the tick it was read in keeps its stamps; a record is trusted only for files older than that when read.
 */
export function createEntryMemo(opts: { racyMs?: number } = {}): EntryMemo {
  return { rows: new Map(), selections: new Map(), racyMs: opts.racyMs ?? 2000 };
}

/** Writes an entry's stamps at `o`. */
function putStamps(out: Float64Array, o: number, st: FileStat): void {
  out[o] = st.dev;
  out[o + 1] = st.ino;
  out[o + 2] = st.mode;
  out[o + 3] = st.uid;
  out[o + 4] = st.gid;
  out[o + 5] = st.rdev;
  out[o + 6] = st.size;
  out[o + 7] = st.mtimeMs;
  out[o + 8] = st.ctimeMs;
}

/** Whether every entry of `selected` has the name and stamps `row` was computed from. */
function selectionUnchanged(row: SelectionRow, selected: readonly SelectedSource[]): boolean {
  const s = row.stamps;
  let i = 0;
  for (const src of selected) {
    for (const e of src.entries) {
      if (i >= row.rels.length || row.rels[i] !== e.rel) return false;
      const st = e.st;
      const o = i * STAMPS;
      if (
        s[o + 7] !== st.mtimeMs ||
        s[o + 8] !== st.ctimeMs ||
        s[o + 1] !== st.ino ||
        s[o + 6] !== st.size ||
        s[o] !== st.dev ||
        s[o + 2] !== st.mode ||
        s[o + 3] !== st.uid ||
        s[o + 4] !== st.gid ||
        s[o + 5] !== st.rdev
      )
        return false;
      i++;
    }
  }
  return i === row.rels.length;
}

/** The key of a selection's memo row: what was selected (patterns, matches, where they resolved) and how it is summed. */
function selectionKey(selected: readonly SelectedSource[], ownership: string, relative: boolean): string {
  return JSON.stringify([ownership, relative, selected.map((s) => [s.pattern, s.path, s.abs])]);
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
  const selected = await selectSources(root, patterns, opts);
  return checksumSelection(selected, opts);
}

/** Checksums an already made selection (the copy path calls selectSources once and reuses it). */
export async function checksumSelection(selected: readonly SelectedSource[], opts: ChecksumOptions = {}): Promise<SourceChecksum> {
  const cache = opts.statCache ?? noStatCache();
  const memo = opts.memo;
  const ownership = opts.ownership ?? 'keep';
  const relative = opts.manifestPaths === 'relative';
  const started = Date.now();
  const selKey = memo ? selectionKey(selected, ownership, relative) : '';
  const known = memo?.selections.get(selKey);
  if (known && selectionUnchanged(known, selected)) return { digest: known.digest, manifest: known.manifest, hashed: 0 };
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
  const digest: Digest = `sha256:${total.digest('hex')}`;
  if (memo) rememberSelection(memo, selKey, selected, started, { digest, manifest });
  return { digest, manifest, hashed };
}

/** Keeps a selection's result when every entry is past the racy window; its manifest is frozen (callers copy to add). */
function rememberSelection(
  memo: EntryMemo,
  key: string,
  selected: readonly SelectedSource[],
  started: number,
  result: { digest: Digest; manifest: ChecksumManifest },
): void {
  memo.selections.delete(key);
  const count = selected.reduce((n, src) => n + src.entries.length, 0);
  if (count > SELECTION_ENTRIES_MAX) return;
  const rels: string[] = new Array<string>(count);
  const stamps = new Float64Array(count * STAMPS);
  let i = 0;
  for (const src of selected) {
    for (const e of src.entries) {
      if (started - Math.max(e.st.ctimeMs, e.st.mtimeMs) < memo.racyMs) return;
      rels[i] = e.rel;
      putStamps(stamps, i * STAMPS, e.st);
      i++;
    }
  }
  let kept = count;
  for (const row of memo.selections.values()) kept += row.rels.length;
  if (kept > SELECTION_ENTRIES_MAX) memo.selections.clear();
  memo.selections.set(key, { rels, stamps, digest: result.digest, manifest: Object.freeze(result.manifest) });
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
