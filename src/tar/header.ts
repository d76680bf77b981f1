/**
 * Tar headers: kiln's entry model and the 512-byte ustar block, with PAX extended headers for whatever ustar
 * cannot hold (names over 100 bytes, uid/gid/size/mtime beyond the octal fields, xattrs with binary values).
 * Output is deterministic: no atime/ctime, no user or group names, xattrs in sorted order.
 */
import { encodePax } from './pax.js';

export type TarEntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

/** One archive member. `name` has no trailing slash (the writer adds one for directories). */
export interface TarEntry {
  name: string;
  type: TarEntryType;
  /** Permission bits including setuid/setgid/sticky (07777). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of content; 0 for everything but `file`. */
  size: number;
  /** Seconds since the epoch (whole seconds: sub-second times are not kept, for reproducible layers). */
  mtime: number;
  /** Target of a symlink, or the earlier member a hard link points at. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  uname?: string;
  gname?: string;
  /** Extended attributes, values byte-exact (PAX `SCHILY.xattr.<name>`). */
  xattrs?: Record<string, Buffer>;
}

export const BLOCK = 512;

const TYPEFLAG: Record<TarEntryType, string> = {
  file: '0',
  link: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
};

/** Largest values that fit the octal fields (7 digits for ids and devices, 11 for size and mtime). */
const MAX_OCTAL7 = 0o7777777;
const MAX_OCTAL11 = 0o77777777777;

/** Padding needed after `size` bytes of content to reach a block boundary. */
export function padding(size: number): number {
  const r = size % BLOCK;
  return r === 0 ? 0 : BLOCK - r;
}

/** Writes `value` as zero-padded octal in `width` bytes (width-1 digits and a NUL). */
function writeOctal(buf: Buffer, off: number, width: number, value: number): void {
  // Hot path (several fields per member): digits written directly, no string.
  let v = Math.trunc(value);
  buf[off + width - 1] = 0;
  for (let i = off + width - 2; i >= off; i--) {
    buf[i] = 0x30 + (v % 8);
    v = Math.floor(v / 8);
  }
}

/** GNU base-256 for values the octal field cannot hold (read by GNU tar, bsdtar, Go); PAX carries them too. */
function writeBase256(buf: Buffer, off: number, width: number, value: number): void {
  let v = BigInt(Math.trunc(value));
  const neg = v < 0n;
  if (neg) v = (1n << BigInt(width * 8)) + v;
  for (let i = width - 1; i > 0; i--) {
    buf[off + i] = Number(v & 0xffn);
    v >>= 8n;
  }
  buf[off] = neg ? 0xff : 0x80;
}

function writeNumber(buf: Buffer, off: number, width: number, value: number, max: number): void {
  if (value >= 0 && value <= max) writeOctal(buf, off, width, value);
  else writeBase256(buf, off, width, value);
}

/** Splits a long path into ustar's prefix (155) and name (100) at a slash, or undefined when impossible. */
function splitUstarPath(path: string): [string, string] | undefined {
  if (Buffer.byteLength(path) <= 100) return ['', path];
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) > 155) return undefined;
    if (name.length > 0 && Buffer.byteLength(name) <= 100) return [prefix, name];
  }
  return undefined;
}

/** A name with a trailing slash for directories, as tar writes it. */
function memberPath(e: TarEntry): string {
  return e.type === 'dir' && !e.name.endsWith('/') ? e.name + '/' : e.name;
}

/**
 * The header blocks for `e`: a PAX extended header when needed, then the ustar block. Content and padding
 * follow (the writer's job).
 */
export function encodeHeader(e: TarEntry): Buffer {
  const pax = encodePaxBlocks(e);
  const block = Buffer.alloc(BLOCK);
  writeUstar(e, block, 0);
  return pax ? Buffer.concat([pax, block]) : block;
}

/** The PAX extended header (its header block, records and padding) that must precede `e`, if any. */
export function encodePaxBlocks(e: TarEntry): Buffer | undefined {
  const path = memberPath(e);
  const pax: Array<[string, string | Buffer]> = [];
  if (!splitUstarPath(path)) pax.push(['path', path]);
  const linkname = e.linkname ?? '';
  if (linkname.length > 33 && Buffer.byteLength(linkname) > 100) pax.push(['linkpath', linkname]);
  if (e.uid > MAX_OCTAL7 || e.uid < 0) pax.push(['uid', String(e.uid)]);
  if (e.gid > MAX_OCTAL7 || e.gid < 0) pax.push(['gid', String(e.gid)]);
  if (e.size > MAX_OCTAL11) pax.push(['size', String(e.size)]);
  if (e.mtime > MAX_OCTAL11 || e.mtime < 0) pax.push(['mtime', String(Math.trunc(e.mtime))]);
  if (e.uname && Buffer.byteLength(e.uname) > 32) pax.push(['uname', e.uname]);
  if (e.gname && Buffer.byteLength(e.gname) > 32) pax.push(['gname', e.gname]);
  if (e.xattrs) {
    for (const k of Object.keys(e.xattrs).sort()) pax.push([`SCHILY.xattr.${k}`, e.xattrs[k]!]);
  }
  if (pax.length === 0) return undefined;
  const records = encodePax(pax);
  const out = Buffer.alloc(BLOCK + records.length + padding(records.length));
  // A fixed name keeps layers reproducible (GNU tar puts its pid here).
  out.write('PaxHeader/' + truncateBytes(basename(path), 90), 0, 100, 'utf8');
  writeOctal(out, 100, 8, 0o644);
  writeOctal(out, 108, 8, 0);
  writeOctal(out, 116, 8, 0);
  writeOctal(out, 124, 12, records.length);
  writeOctal(out, 136, 12, 0);
  out.write('x', 156, 1, 'latin1');
  out.write('ustar\x0000', 257, 8, 'latin1');
  writeOctal(out, 329, 8, 0);
  writeOctal(out, 337, 8, 0);
  writeChecksum(out, 0);
  records.copy(out, BLOCK);
  return out;
}

/** Writes the ustar block of `e` at `buf[off]` (512 bytes, which must be zero). Fields that do not fit are cut; encodePaxBlocks carries them. */
export function writeUstar(e: TarEntry, buf: Buffer, off: number): void {
  const path = memberPath(e);
  const split = splitUstarPath(path) ?? ['', truncateBytes(path, 100)];
  const linkname = e.linkname ?? '';
  buf.write(split[1], off, 100, 'utf8');
  writeOctal(buf, off + 100, 8, e.mode & 0o7777);
  writeNumber(buf, off + 108, 8, e.uid, MAX_OCTAL7);
  writeNumber(buf, off + 116, 8, e.gid, MAX_OCTAL7);
  writeNumber(buf, off + 124, 12, e.type === 'file' ? e.size : 0, MAX_OCTAL11);
  writeNumber(buf, off + 136, 12, e.mtime, MAX_OCTAL11);
  buf[off + 156] = TYPEFLAG[e.type].charCodeAt(0);
  if (linkname) buf.write(truncateBytes(linkname, 100), off + 157, 100, 'utf8');
  buf.write('ustar\x0000', off + 257, 8, 'latin1');
  if (e.uname) buf.write(truncateBytes(e.uname, 32), off + 265, 32, 'utf8');
  if (e.gname) buf.write(truncateBytes(e.gname, 32), off + 297, 32, 'utf8');
  writeNumber(buf, off + 329, 8, e.devmajor ?? 0, MAX_OCTAL7);
  writeNumber(buf, off + 337, 8, e.devminor ?? 0, MAX_OCTAL7);
  if (split[0]) buf.write(split[0], off + 345, 155, 'utf8');
  writeChecksum(buf, off);
}

function basename(p: string): string {
  const t = p.endsWith('/') ? p.slice(0, -1) : p;
  return t.slice(t.lastIndexOf('/') + 1);
}

/** Cuts `s` to at most `max` UTF-8 bytes without splitting a character. */
function truncateBytes(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s;
  let out = '';
  let n = 0;
  for (const ch of s) {
    const len = Buffer.byteLength(ch);
    if (n + len > max) break;
    out += ch;
    n += len;
  }
  return out;
}

/** The checksum: sum of all header bytes with the checksum field counted as spaces; 6 octal digits, NUL, space. */
export function checksum(block: Buffer, off = 0): number {
  let sum = 8 * 0x20;
  for (let i = off; i < off + 148; i++) sum += block[i]!;
  for (let i = off + 156; i < off + BLOCK; i++) sum += block[i]!;
  return sum;
}

function writeChecksum(block: Buffer, off: number): void {
  writeOctal(block, off + 148, 7, checksum(block, off));
  block[off + 155] = 0x20;
}
