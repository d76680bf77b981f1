/**
 * The names a network's DNS answers: one file per endpoint, `<container id>.json` =
 * `{"names": [...], "ipv4": "10.90.1.2"}`, written atomically (rename) by the network code. The directory is
 * re-read when its mtime changes; a rename into it changes that mtime, so a stat per query (a few µs) is enough
 * to see every update before the next answer, with no watcher to lose events. Files are opened with O_NOFOLLOW
 * and must be regular files: a planted symlink or FIFO is skipped, never followed or blocked on.
 */
import { closeSync, constants, fstatSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { join } from 'node:path';

/** One endpoint's record. */
export interface EndpointRecord {
  id: string;
  names: string[];
  ipv4: string;
}

/** Name → addresses and address → name, as the server's `lookup` and `reverse` callbacks want them. */
export interface NameTable {
  /** Addresses of `name` (case-insensitive, trailing dot optional), or undefined when it is not ours. */
  lookup(name: string): string[] | undefined;
  /** The first name of the endpoint holding `ip`. */
  reverse(ip: string): string | undefined;
}

/** A record file larger than this is not a record (one holds a few names and an address). */
const MAX_RECORD_BYTES = 64 * 1024;
/** Endpoints read per directory: far above a bridge network's practical size, and it bounds memory. */
const MAX_RECORDS = 16_384;
const RECORD_FILE = /^[A-Za-z0-9][A-Za-z0-9_.-]*\.json$/;

const normalize = (name: string) => name.replace(/\.$/, '').toLowerCase();

function readSmallFileNoFollow(path: string): string | undefined {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO planted under a record's name must not hang the server.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > MAX_RECORD_BYTES) return undefined;
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off).toString('utf8');
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** Validates one parsed record; undefined when it is not one. */
export function toRecord(id: string, value: unknown): EndpointRecord | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { names, ipv4 } = value as { names?: unknown; ipv4?: unknown };
  if (!Array.isArray(names) || typeof ipv4 !== 'string' || !isIPv4(ipv4)) return undefined;
  const good = names.filter((n): n is string => typeof n === 'string' && n !== '' && n.length <= 253);
  return { id, names: good, ipv4 };
}

/** Reads every valid record in `dir`; files that fail to parse, are not regular files or are symlinks are skipped. */
export function readRecordsDir(dir: string): EndpointRecord[] {
  const out: EndpointRecord[] = [];
  for (const entry of readdirSync(dir).sort()) {
    if (out.length >= MAX_RECORDS) break;
    if (!RECORD_FILE.test(entry)) continue;
    const text = readSmallFileNoFollow(join(dir, entry));
    if (text === undefined) continue;
    try {
      const rec = toRecord(entry.slice(0, -'.json'.length), JSON.parse(text));
      if (rec) out.push(rec);
    } catch {
      // Not JSON: skipped, like any file that is not a record.
    }
  }
  return out;
}

/**
 * Builds the table from records. A name shared by several endpoints (an alias) maps to all their addresses.
 * `search` are the host's search domains: `web.example.com` resolves as `web` when example.com is one of them.
 */
export function buildNameTable(records: readonly EndpointRecord[], opts: { search?: readonly string[] } = {}): NameTable {
  const byName = new Map<string, string[]>();
  const byIp = new Map<string, string>();
  for (const rec of records) {
    for (const raw of rec.names) {
      const name = normalize(raw);
      const ips = byName.get(name) ?? [];
      if (!ips.includes(rec.ipv4)) ips.push(rec.ipv4);
      byName.set(name, ips);
    }
    const first = rec.names[0];
    if (first !== undefined && !byIp.has(rec.ipv4)) byIp.set(rec.ipv4, first.replace(/\.$/, ''));
  }
  const suffixes = (opts.search ?? []).map((d) => '.' + normalize(d)).filter((s) => s !== '.');
  return {
    lookup(name) {
      const n = normalize(name);
      const hit = byName.get(n);
      if (hit) return [...hit];
      for (const s of suffixes) {
        if (n.length > s.length && n.endsWith(s)) {
          const bare = byName.get(n.slice(0, -s.length));
          if (bare) return [...bare];
        }
      }
      return undefined;
    },
    reverse: (ip) => byIp.get(ip),
  };
}

/** Timestamps come from the kernel's coarse clock (a few ms a tick): a directory changed this recently may change
 * again within the same tick without its mtime moving, so it is re-read until it has been quiet this long. */
const SETTLE_MS = 100;

/**
 * A table that follows `dir`: each call stats the directory and re-reads it when its mtime or inode changed (or
 * changed less than SETTLE_MS ago). `exists()` is false once the directory is gone or replaced by another one
 * (its network was removed), which is when the process exits.
 */
export function createRecordsTable(dir: string, opts: { search?: readonly string[] } = {}): NameTable & { exists(): boolean } {
  let seen = '';
  let table = buildNameTable([], opts);
  let ino: bigint | undefined;
  const fresh = (): NameTable => {
    try {
      const st = statSync(dir, { bigint: true });
      const key = `${st.ino}:${st.mtimeNs}`;
      ino ??= st.ino;
      if (key !== seen) {
        table = buildNameTable(readRecordsDir(dir), opts);
        seen = Date.now() - Number(st.mtimeMs) < SETTLE_MS ? '' : key;
      }
    } catch {
      // Directory gone or unreadable: keep answering from the last table until the process exits.
    }
    return table;
  };
  return {
    lookup: (name) => fresh().lookup(name),
    reverse: (ip) => fresh().reverse(ip),
    exists() {
      try {
        const st = statSync(dir, { bigint: true });
        ino ??= st.ino;
        return st.isDirectory() && st.ino === ino;
      } catch {
        return false;
      }
    },
  };
}
