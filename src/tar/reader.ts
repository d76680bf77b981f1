/**
 * A streaming tar reader: ustar, PAX (`x` and global `g` headers, binary-safe xattr values), GNU long names
 * (`L`/`K`) and base-256 numbers, old v7 members. Reads what GNU tar, bsdtar, Go's archive/tar, Docker and
 * BuildKit write. Never buffers a body: each member's content streams as subarrays of the input chunks.
 */
import { KilnError } from '../errors.js';
import { ByteSource } from './byte-source.js';
import { BLOCK, checksum, padding, type TarEntry, type TarEntryType } from './header.js';
import { decodePax } from './pax.js';

/** A member and its content. `body` must be consumed before the next iteration, or it is skipped. */
export interface TarMember {
  entry: TarEntry;
  body: AsyncIterable<Buffer>;
}

export interface ReadTarOptions {
  signal?: AbortSignal;
  /** Name used in error messages (a blob digest, a file). */
  source?: string;
}

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'link',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

/** Largest body read into memory for a metadata member (PAX headers, GNU long names). */
const MAX_META = 16 * 1024 * 1024;

/**
 * Iterates the members of a tar stream. Throws ARCHIVE_INVALID for a bad checksum, a truncated archive, a
 * malformed PAX record or an unsupported member type (GNU sparse files). Stops at the end-of-archive blocks,
 * then drains the rest of the input so a feeding pipeline completes.
 */
export async function* readTar(input: AsyncIterable<Buffer | Uint8Array | string>, opts: ReadTarOptions = {}): AsyncGenerator<TarMember> {
  const where = opts.source ?? 'tar stream';
  const src = new ByteSource(input);
  const globalPax = new Map<string, Buffer>();
  let pax: Map<string, Buffer> | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  try {
    for (;;) {
      opts.signal?.throwIfAborted();
      const at = src.position;
      const hdr = await src.read(BLOCK);
      if (hdr.length === 0) return; // no end-of-archive blocks: accepted, as GNU tar does
      if (hdr.length < BLOCK) throw truncated(where, at);
      if (isZeroBlock(hdr)) {
        await src.drain();
        return;
      }
      if (!checksumOk(hdr)) throw new KilnError('ARCHIVE_INVALID', `${where}: bad tar header checksum at byte ${at} (not a tar archive, or corrupt)`);
      const flag = String.fromCharCode(hdr[156]!);
      let size = parseNumber(hdr, 124, 12);
      if (size < 0) throw new KilnError('ARCHIVE_INVALID', `${where}: negative member size at byte ${at}`);
      if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
        if (size > MAX_META) throw new KilnError('ARCHIVE_INVALID', `${where}: ${size}-byte tar metadata member at byte ${at}`);
        const data = Buffer.from(await readExact(src, size, where, at));
        await skipExact(src, padding(size), where, at);
        if (flag === 'x') pax = mergeInto(pax ?? new Map(), decodePax(data, where));
        else if (flag === 'g') mergeInto(globalPax, decodePax(data, where));
        else if (flag === 'L') longName = cString(data, 0, data.length);
        else longLink = cString(data, 0, data.length);
        continue;
      }
      const rec = globalPax.size ? mergeInto(new Map(globalPax), pax ?? new Map()) : pax;
      const entry = parseEntry(hdr, flag, rec, longName, longLink, where, at);
      pax = undefined;
      longName = longLink = undefined;
      if (rec?.has('size')) size = Number(rec.get('size')!.toString('latin1'));
      if (!Number.isSafeInteger(size) || size < 0) throw new KilnError('ARCHIVE_INVALID', `${where}: bad size for tar member "${entry.name}" at byte ${at}`);
      if (entry.type === 'file') entry.size = size;

      const state = { left: size };
      const body = bodyOf(src, state, where, at);
      yield { entry, body };
      if (state.left > 0) await skipExact(src, state.left, where, at);
      await skipExact(src, padding(size), where, at);
    }
  } finally {
    await src.close();
  }
}

async function* bodyOf(src: ByteSource, state: { left: number }, where: string, at: number): AsyncGenerator<Buffer> {
  while (state.left > 0) {
    const b = await src.readSome(Math.min(state.left, 4 * 1024 * 1024));
    if (b.length === 0) throw truncated(where, at);
    state.left -= b.length;
    yield b;
  }
}

function parseEntry(
  hdr: Buffer,
  flag: string,
  pax: Map<string, Buffer> | undefined,
  longName: string | undefined,
  longLink: string | undefined,
  where: string,
  at: number,
): TarEntry {
  let type = TYPES[flag];
  if (flag === 'D') type = 'dir'; // GNU dumpdir: a directory with a listing we do not need
  if (!type) {
    const hint = flag === 'S' ? ' (GNU sparse files are not supported)' : '';
    throw new KilnError('ARCHIVE_INVALID', `${where}: unsupported tar member type '${printable(flag)}' at byte ${at}${hint}`);
  }
  const magic = hdr.toString('latin1', 257, 263);
  let name = cString(hdr, 0, 100);
  if (magic === 'ustar\0') {
    const prefix = cString(hdr, 345, 155);
    if (prefix) name = `${prefix}/${name}`;
  }
  if (longName !== undefined) name = longName;
  let linkname = longLink ?? cString(hdr, 157, 100);
  const str = (k: string) => pax?.get(k)?.toString('utf8');
  const num = (k: string) => {
    const v = str(k);
    return v === undefined ? undefined : Number(v);
  };
  name = str('path') ?? name;
  linkname = str('linkpath') ?? linkname;
  if (type === 'file' && name.endsWith('/')) type = 'dir'; // v7 archives mark directories by the slash alone
  const entry: TarEntry = {
    name: stripTrailingSlashes(name),
    type,
    mode: parseNumber(hdr, 100, 8) & 0o7777,
    uid: num('uid') ?? parseNumber(hdr, 108, 8),
    gid: num('gid') ?? parseNumber(hdr, 116, 8),
    size: 0,
    mtime: Math.floor(num('mtime') ?? parseNumber(hdr, 136, 12)),
  };
  if (type === 'link' || type === 'symlink') entry.linkname = linkname;
  if (type === 'char' || type === 'block') {
    entry.devmajor = parseNumber(hdr, 329, 8);
    entry.devminor = parseNumber(hdr, 337, 8);
  }
  const uname = str('uname') ?? cString(hdr, 265, 32);
  const gname = str('gname') ?? cString(hdr, 297, 32);
  if (uname) entry.uname = uname;
  if (gname) entry.gname = gname;
  if (pax) {
    for (const [k, v] of pax) {
      if (k.startsWith('SCHILY.xattr.')) (entry.xattrs ??= {})[k.slice(13)] = Buffer.from(v);
      else if (k.startsWith('LIBARCHIVE.xattr.')) (entry.xattrs ??= {})[decodeURIComponent(k.slice(17))] = Buffer.from(v.toString('latin1'), 'base64');
    }
  }
  for (const [k, v] of [
    ['uid', entry.uid],
    ['gid', entry.gid],
    ['mtime', entry.mtime],
  ] as const) {
    if (!Number.isFinite(v)) throw new KilnError('ARCHIVE_INVALID', `${where}: bad ${k} in tar member "${name}" at byte ${at}`);
  }
  return entry;
}

function stripTrailingSlashes(name: string): string {
  let end = name.length;
  while (end > 1 && name.charCodeAt(end - 1) === 0x2f) end--;
  return name.slice(0, end);
}

/** An octal field (NUL/space terminated) or a GNU base-256 one (high bit set). */
export function parseNumber(buf: Buffer, off: number, width: number): number {
  const first = buf[off]!;
  if (first & 0x80) {
    let v = BigInt(first & 0x7f) - (first === 0xff ? 0x80n : 0n);
    for (let i = 1; i < width; i++) v = (v << 8n) | BigInt(buf[off + i]!);
    return Number(v);
  }
  let v = 0;
  let i = off;
  const end = off + width;
  while (i < end && (buf[i] === 0x20 || buf[i] === 0)) i++;
  for (; i < end; i++) {
    const c = buf[i]!;
    if (c < 0x30 || c > 0x37) break;
    v = v * 8 + (c - 0x30);
  }
  return v;
}

function cString(buf: Buffer, off: number, width: number): string {
  const end = buf.indexOf(0, off);
  return buf.toString('utf8', off, end === -1 || end > off + width ? off + width : end);
}

function checksumOk(hdr: Buffer): boolean {
  const stored = parseNumber(hdr, 148, 8);
  if (stored === checksum(hdr)) return true;
  // Some old writers summed signed bytes.
  let signed = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) if (i < 148 || i >= 156) signed += (hdr[i]! << 24) >> 24;
  return stored === signed;
}

function isZeroBlock(b: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (b[i] !== 0) return false;
  return true;
}

function mergeInto(target: Map<string, Buffer>, from: Map<string, Buffer>): Map<string, Buffer> {
  for (const [k, v] of from) target.set(k, v);
  return target;
}

async function readExact(src: ByteSource, n: number, where: string, at: number): Promise<Buffer> {
  const b = await src.read(n);
  if (b.length < n) throw truncated(where, at);
  return b;
}

async function skipExact(src: ByteSource, n: number, where: string, at: number): Promise<void> {
  if (n > 0 && (await src.skip(n)) < n) throw truncated(where, at);
}

function truncated(where: string, at: number): KilnError {
  return new KilnError('ARCHIVE_INVALID', `${where}: tar archive is truncated (member at byte ${at})`);
}

function printable(c: string): string {
  const code = c.charCodeAt(0);
  return code >= 0x20 && code < 0x7f ? c : `\\x${code.toString(16).padStart(2, '0')}`;
}
