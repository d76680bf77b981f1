/**
 * A directory's names, sorted by their bytes, each with its lstat: one call of the native helper per directory
 * (native/fsx.c scanDir) instead of a readdir and an lstat per name. A COPY of the context walks every file at
 * every build to prove it unchanged; for 5,000 files Node's per-call cost was most of a no-op rebuild's walk.
 * Without the helper (an addon built before it) `scanDirectory` returns undefined and callers use fs.
 */
import type { Stats } from 'node:fs';
import { lstatSync, readdirSync } from 'node:fs';
import { scanDir, scanDirAsync } from '../../native/fsx.js';

/** What kiln reads of a file's lstat: Node's Stats, or a scanned one. */
export type FileStat = Pick<
  Stats,
  | 'dev'
  | 'ino'
  | 'mode'
  | 'nlink'
  | 'uid'
  | 'gid'
  | 'rdev'
  | 'size'
  | 'atimeMs'
  | 'mtimeMs'
  | 'ctimeMs'
  | 'isFile'
  | 'isDirectory'
  | 'isSymbolicLink'
  | 'isFIFO'
  | 'isCharacterDevice'
  | 'isBlockDevice'
  | 'isSocket'
>;

/** Fields per entry in the helper's array (its SCAN_FIELDS): dev mode nlink uid gid rdev ino size, a/m/ctime s+ns. */
const FIELDS = 16;
const S_IFMT = 0o170000;

/** Node's own formula (msFromTimeSpec), so a stamp equals lstatSync's to the bit: the stat cache compares them. */
const ms = (sec: number, nsec: number) => sec * 1e3 + nsec / 1e6;

/** One entry of a scan, its fields copied out as plain numbers (one shape for every entry, as Node's Stats). */
class ScannedStat implements FileStat {
  readonly dev: number;
  readonly mode: number;
  readonly nlink: number;
  readonly uid: number;
  readonly gid: number;
  readonly rdev: number;
  readonly ino: number;
  readonly size: number;
  readonly atimeMs: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  constructor(f: Float64Array, o: number) {
    this.dev = f[o]!;
    this.mode = f[o + 1]!;
    this.nlink = f[o + 2]!;
    this.uid = f[o + 3]!;
    this.gid = f[o + 4]!;
    this.rdev = f[o + 5]!;
    this.ino = f[o + 6]!;
    this.size = f[o + 7]!;
    this.atimeMs = ms(f[o + 8]!, f[o + 9]!);
    this.mtimeMs = ms(f[o + 10]!, f[o + 11]!);
    this.ctimeMs = ms(f[o + 12]!, f[o + 13]!);
  }
  private type() {
    return this.mode & S_IFMT;
  }
  isFile() {
    return this.type() === 0o100000;
  }
  isDirectory() {
    return this.type() === 0o040000;
  }
  isSymbolicLink() {
    return this.type() === 0o120000;
  }
  isFIFO() {
    return this.type() === 0o010000;
  }
  isCharacterDevice() {
    return this.type() === 0o020000;
  }
  isBlockDevice() {
    return this.type() === 0o060000;
  }
  isSocket() {
    return this.type() === 0o140000;
  }
}

export interface ScannedEntry {
  name: string;
  st: FileStat;
}

/**
 * The entries of `dir` in byte order with their lstat (symlinks not followed, `dir` itself opened no-follow), or
 * undefined when the native helper is not there. Throws Node-style errno errors.
 */
export function scanDirectory(dir: string): ScannedEntry[] | undefined {
  const scanned = scanDir(dir);
  return scanned && entriesOf(scanned);
}

/**
 * scanDirectory on a worker thread, so a walk can scan the directories it will enter side by side; with Node's
 * readdir + lstat (synchronous, in this thread) when the helper is not there. Rejects with Node-style errno errors.
 */
export async function scanDirectoryAsync(dir: string): Promise<ScannedEntry[]> {
  const pending = scanDirAsync(dir);
  if (pending) return entriesOf(await pending);
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return sortByBytes(readdirSync(dir)).map((name) => ({ name, st: lstatSync(prefix + name) }));
}

function entriesOf([names, fields]: [string[], Float64Array]): ScannedEntry[] {
  return names.map((name, i) => ({ name, st: new ScannedStat(fields, i * FIELDS) }));
}

/**
 * Sorts `names` in place by their UTF-8 bytes. Hot path (once per directory of a context): names without code
 * units from U+D800 up, i.e. almost all, sort the same by UTF-16 code units, which needs no Buffers.
 */
export function sortByBytes(names: string[]): string[] {
  for (const n of names) if (/[\uD800-\uFFFF]/.test(n)) return names.sort(byteOrder);
  return names.sort();
}

/** Sorts names by their UTF-8 bytes (Go's and tar's order), not by UTF-16 code units. */
export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
