/**
 * The build record store: one directory per build under `<root>/history/<id>/` holding `record.json` (rewritten
 * atomically), `Dockerfile` (the text built) and `logs/<step>.log.gz` (each step's whole output, gzip with a sync
 * flush after every write so a killed build leaves a readable prefix). Reads never trust a record: ids are checked
 * against their pattern before any path is built, files are opened no-follow, and a running record whose owner
 * process is gone reads as `incomplete`.
 */
import { constants as fsc, createReadStream, lstatSync, readdirSync, type Dirent } from 'node:fs';
import { lstat, mkdir, open, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants as zc, createGunzip } from 'node:zlib';
import { writeFileAtomic } from '../cache/atomic-file.js';
import { isOwnerAlive } from '../cache/lock.js';
import { KilnError } from '../errors.js';
import { packTar, type TarInput } from '../tar/writer.js';
import type { BuildRecord, BuildSummary, HistoryFilter } from './types.js';

const ID_RE = /^[0-9a-v]{26}$/;
const ALPHABET = '0123456789abcdefghijklmnopqrstuv';

/** `<root>/history`. */
export function historyRoot(root: string): string {
  return join(root, 'history');
}

/** A new record id: 10 base32 characters of the start time (ms, so ids sort by time) and 16 random ones. */
export function newRecordId(now = Date.now()): string {
  let t = '';
  for (let n = now, i = 0; i < 10; i++, n = Math.floor(n / 32)) t = ALPHABET[n % 32]! + t;
  const rnd = randomBytes(16);
  let r = '';
  for (const b of rnd) r += ALPHABET[b % 32];
  return t + r;
}

/** The start time (epoch ms) encoded in a record id, or undefined for anything that is not an id. */
export function recordIdTime(id: string): number | undefined {
  if (!ID_RE.test(id)) return undefined;
  let n = 0;
  for (const c of id.slice(0, 10)) n = n * 32 + ALPHABET.indexOf(c);
  return n;
}

/** The directory of record `id`; throws INVALID_ARGUMENT for anything that is not an id (no path is built from it). */
export function recordDir(root: string, id: string): string {
  if (!ID_RE.test(id)) throw new KilnError('INVALID_ARGUMENT', `"${id}" is not a build record id`);
  return join(historyRoot(root), id);
}

/** The path of step `step`'s compressed log inside a record. */
export function stepLogPath(root: string, id: string, step: number): string {
  if (!Number.isSafeInteger(step) || step < 1) throw new KilnError('INVALID_ARGUMENT', `step "${step}" is not a step number`);
  return join(recordDir(root, id), 'logs', `${step}.log.gz`);
}

/**
 * Writes (creates or replaces) a record's record.json atomically (a reader sees the old or the new one, never a
 * torn one). Not fsynced: a record is a diagnostic, not state the store depends on; a process killed mid-build
 * leaves it in the page cache (read back as `incomplete`), and only a power loss could lose its last version —
 * not worth two fsyncs on every build, a no-op rebuild included.
 */
export async function writeRecord(root: string, rec: BuildRecord): Promise<void> {
  await mkdir(join(recordDir(root, rec.id), 'logs'), { recursive: true, mode: 0o700 });
  await writeFileAtomic(join(recordDir(root, rec.id), 'record.json'), JSON.stringify(rec), { mode: 0o600, durable: false });
}

/** Stores the Dockerfile text built, beside the record (not fsynced, as writeRecord). */
export async function writeRecordDockerfile(root: string, id: string, text: string): Promise<void> {
  await writeFileAtomic(join(recordDir(root, id), 'Dockerfile'), text, { mode: 0o600, durable: false });
}

/** Reads a file inside a record with O_NOFOLLOW; undefined when missing. */
async function readNoFollow(path: string): Promise<Buffer | undefined> {
  let fh;
  try {
    fh = await open(path, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

/** A running record whose owner is gone is `incomplete`; its running steps then read as cancelled. */
function settle(rec: BuildRecord): BuildRecord {
  if (rec.status !== 'running' || isOwnerAlive(rec.owner)) return rec;
  return { ...rec, status: 'incomplete', steps: rec.steps.map((s) => (s.status === 'running' ? { ...s, status: 'cancelled' } : s)) };
}

/** Reads record `id` as stored (settled: see `settle`). Throws NOT_FOUND. */
export async function readRecord(root: string, id: string): Promise<BuildRecord> {
  const data = await readNoFollow(join(recordDir(root, id), 'record.json'));
  if (!data) throw new KilnError('NOT_FOUND', `no build record ${id}`, { hint: 'kiln history ls lists them' });
  try {
    return settle(JSON.parse(data.toString('utf8')) as BuildRecord);
  } catch (err) {
    throw new KilnError('STORE_CORRUPT', `build record ${id} is unreadable`, { cause: err });
  }
}

/** The Dockerfile text of record `id`, if stored. */
export async function readRecordDockerfile(root: string, id: string): Promise<string | undefined> {
  return (await readNoFollow(join(recordDir(root, id), 'Dockerfile')))?.toString('utf8');
}

function matches(rec: BuildRecord, f: HistoryFilter): boolean {
  if (f.status?.length && !f.status.includes(rec.status)) return false;
  if (f.since !== undefined && rec.start < f.since) return false;
  if (f.until !== undefined && rec.start >= f.until) return false;
  if (f.ref !== undefined) {
    const names = [...rec.tags, ...(rec.target ? [rec.target] : []), rec.id];
    if (!names.some((n) => n.includes(f.ref!))) return false;
  }
  return true;
}

/** Every readable record, newest first, filtered. Unreadable directories are skipped (a crash mid-create). */
export async function listRecords(root: string, filter: HistoryFilter = {}): Promise<BuildRecord[]> {
  const names = await readdir(historyRoot(root)).catch(() => [] as string[]);
  const out: BuildRecord[] = [];
  for (const name of names) {
    if (!ID_RE.test(name)) continue;
    const rec = await readRecord(root, name).catch(() => undefined);
    if (rec && matches(rec, filter)) out.push(rec);
  }
  return out.sort((a, b) => b.start - a.start || (a.id < b.id ? 1 : -1));
}

/**
 * A record as a list shows it: everything but the per-step details, the stage graph and the warnings; each step
 * keeps its id, kind and status (what a cache ratio is computed from), so a list of many builds moves far fewer
 * bytes.
 */
export function summarizeRecord(rec: BuildRecord): BuildSummary {
  const { stages: _stages, warnings: _warnings, steps, ...rest } = rec;
  void _stages;
  void _warnings;
  return { ...rest, steps: steps.map((st) => ({ id: st.id, kind: st.kind, status: st.status })) };
}

/**
 * Resolves what a user typed: a full id, a unique id prefix (4+ characters), or `^N` (the Nth most recent
 * build, `^0` the latest, as buildx). Throws NOT_FOUND or INVALID_ARGUMENT (ambiguous).
 */
export async function resolveRecordRef(root: string, ref: string): Promise<string> {
  const all = await listRecords(root);
  const m = /^\^(\d+)$/.exec(ref);
  if (m) {
    const rec = all[Number(m[1])];
    if (!rec) throw new KilnError('NOT_FOUND', `no build record ${ref}: there are ${all.length}`);
    return rec.id;
  }
  if (ID_RE.test(ref) && all.some((r) => r.id === ref)) return ref;
  const hits = ref.length >= 4 && /^[0-9a-v]+$/.test(ref) ? all.filter((r) => r.id.startsWith(ref)) : [];
  if (hits.length === 1) return hits[0]!.id;
  if (hits.length > 1) throw new KilnError('INVALID_ARGUMENT', `build record prefix ${ref} is ambiguous (${hits.length} records)`);
  throw new KilnError('NOT_FOUND', `no build record ${ref}`, { hint: 'kiln history ls lists them' });
}

/** Removes record `id` (its whole directory). Throws NOT_FOUND. */
export async function removeRecord(root: string, id: string): Promise<void> {
  const dir = recordDir(root, id);
  const st = await lstat(dir).catch(() => undefined);
  if (!st?.isDirectory()) throw new KilnError('NOT_FOUND', `no build record ${id}`);
  await rm(dir, { recursive: true, force: true });
}

/** Total bytes of the files of a record directory (no symlinks followed). */
export async function recordSize(root: string, id: string): Promise<number> {
  const dir = recordDir(root, id);
  let total = 0;
  // Synchronous: a record holds a handful of files, measured when every build ends.
  const walk = (d: string): void => {
    let entries: Dirent[];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) total += lstatSync(p, { throwIfNoEntry: false })?.size ?? 0;
    }
  };
  walk(dir);
  return total;
}

/**
 * The decompressed output of one step, streamed (never read whole). A log cut short by a crash yields the
 * prefix that was flushed. A step without output (or without a log file) yields nothing.
 */
export function stepLogStream(root: string, id: string, step: number): Readable {
  const path = stepLogPath(root, id, step);
  const out = new PassThrough();
  void (async () => {
    let fh;
    try {
      fh = await open(path, fsc.O_RDONLY | fsc.O_NOFOLLOW);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return void out.end();
      return void out.destroy(err as Error);
    }
    // finishFlush: a log whose gzip trailer is missing (the build was killed) still decompresses up to its last flush.
    const gunzip = createGunzip({ finishFlush: zc.Z_SYNC_FLUSH });
    await pipeline(createReadStream('', { fd: fh }), gunzip, out).catch((err: unknown) => out.destroy(err as Error));
  })();
  return out;
}

/**
 * The whole build's output: every step in id order, each line prefixed `#N ` as plain progress does, or only
 * step `step`'s raw output.
 */
export async function recordLogStream(root: string, id: string, opts: { step?: number } = {}): Promise<Readable> {
  const rec = await readRecord(root, id);
  if (opts.step !== undefined) {
    if (!rec.steps.some((s) => s.id === opts.step)) throw new KilnError('NOT_FOUND', `build record ${id} has no step ${opts.step}`);
    return stepLogStream(root, id, opts.step);
  }
  const steps = [...rec.steps].sort((a, b) => a.id - b.id);
  async function* all(): AsyncGenerator<Buffer> {
    for (const s of steps) {
      yield Buffer.from(`#${s.id} [${s.stage ? `${s.stage} ` : ''}${s.index}] ${s.text}\n`);
      let rest = '';
      for await (const chunk of stepLogStream(root, id, s.id)) {
        const text = rest + (chunk as Buffer).toString('utf8');
        const lines = text.split('\n');
        rest = lines.pop()!;
        if (lines.length) yield Buffer.from(lines.map((l) => `#${s.id} ${l}\n`).join(''));
      }
      if (rest) yield Buffer.from(`#${s.id} ${rest}\n`);
      yield Buffer.from(`#${s.id} ${s.status.toUpperCase()}\n`);
    }
  }
  return Readable.from(all());
}

/** A tar of the record's directory (record.json, Dockerfile, logs/*.log.gz), streamed. */
export async function exportRecord(root: string, id: string): Promise<Readable> {
  await readRecord(root, id);
  const dir = recordDir(root, id);
  const mtime = Math.floor(Date.now() / 1000);
  async function* entries(): AsyncGenerator<TarInput> {
    yield { name: id, type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime };
    for (const f of ['record.json', 'Dockerfile']) {
      const data = await readNoFollow(join(dir, f));
      if (data) yield { name: `${id}/${f}`, type: 'file', mode: 0o644, uid: 0, gid: 0, size: data.length, mtime, data };
    }
    yield { name: `${id}/logs`, type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime };
    const logs = (await readdir(join(dir, 'logs')).catch(() => [] as string[]))
      .filter((n) => /^\d+\.log\.gz$/.test(n))
      .sort((a, b) => parseInt(a) - parseInt(b));
    for (const n of logs) {
      const st = await lstat(join(dir, 'logs', n)).catch(() => undefined);
      if (!st?.isFile()) continue;
      yield { name: `${id}/logs/${n}`, type: 'file', mode: 0o644, uid: 0, gid: 0, size: st.size, mtime, source: join(dir, 'logs', n) };
    }
  }
  return packTar(entries());
}

/** Reads a whole step log into memory: for tests and small logs only (the CLI and server stream). */
export async function readStepLog(root: string, id: string, step: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stepLogStream(root, id, step)) parts.push(c as Buffer);
  return Buffer.concat(parts);
}
