/**
 * A streaming tar writer. Entries come from an (async) iterable; regular files are read from disk on a fast
 * path: small files are read synchronously straight into a 1 MiB output arena (one read per file, no copies,
 * few large chunks downstream), big files stream in 1 MiB reads. The output is a Readable that only pulls the
 * next entry when downstream (hashing, compression, disk) wants more, so memory stays bounded.
 */
import { closeSync, constants as fsc, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { KilnError } from '../errors.js';
import { BLOCK, encodePaxBlocks, padding, writeUstar, type TarEntry } from './header.js';

/** An entry to write: content comes from `data`, else from the file at `source` (regular files only). */
export interface TarInput extends TarEntry {
  data?: Buffer;
  /** Absolute path of the file whose `size` bytes become the content (read with O_NOFOLLOW). */
  source?: string;
  /** Content streamed from elsewhere (e.g. a decompressor); must yield exactly `size` bytes, else PRECONDITION. */
  stream?: AsyncIterable<Buffer>;
}

export interface PackTarOptions {
  signal?: AbortSignal;
  /** Write the two end-of-archive blocks (default true). */
  trailer?: boolean;
}

const ARENA = 1024 * 1024;
/** Files up to this size are read synchronously into the arena: measured ~10x faster per file than fs/promises. */
const SMALL_FILE = 256 * 1024;
const BIG_READ = 1024 * 1024;

/** The tar stream of `entries`. Throws PRECONDITION if a source file changed size while it was read. */
export function packTar(entries: AsyncIterable<TarInput> | Iterable<TarInput>, opts: PackTarOptions = {}): Readable {
  return Readable.from(generate(entries, opts), { objectMode: false, highWaterMark: 4 * ARENA });
}

/** Fills 1 MiB arenas with headers and small contents; full arenas queue up in `out` for the generator. */
class Encoder {
  private arena = Buffer.allocUnsafe(ARENA);
  private used = 0;
  readonly out: Buffer[] = [];

  /** Queues the filled part of the arena and starts a new one. */
  flush(): void {
    if (this.used === 0) return;
    this.out.push(this.arena.subarray(0, this.used));
    this.arena = Buffer.allocUnsafe(ARENA);
    this.used = 0;
  }

  put(b: Buffer): void {
    if (b.length > ARENA - this.used) {
      this.flush();
      if (b.length > ARENA) return void this.out.push(b);
    }
    b.copy(this.arena, this.used);
    this.used += b.length;
  }

  /** Room for `n` more bytes in the arena (starting a new one if needed); returns the write offset. */
  private reserve(n: number): number {
    if (n > ARENA - this.used) this.flush();
    const at = this.used;
    this.used += n;
    return at;
  }

  /** Encodes `e`; returns true when the caller must stream `e.stream` or `e.source` (a big file) and its padding itself. */
  add(e: TarInput): boolean {
    const size = e.type === 'file' ? e.size : 0;
    const entry = size === e.size ? e : { ...e, size };
    const pax = encodePaxBlocks(entry);
    if (pax) this.put(pax);
    const pad = padding(size);
    const inline = (size === 0 && e.stream === undefined) || e.data !== undefined || (e.stream === undefined && e.source !== undefined && size <= SMALL_FILE);
    if (!inline && !e.source && !e.stream) throw new KilnError('INTERNAL', `tar entry ${e.name}: a file needs data, a source path or a stream`);
    if (e.data && e.data.length !== size) throw new KilnError('INTERNAL', `tar entry ${e.name}: data is ${e.data.length} bytes, size says ${size}`);
    const need = BLOCK + (inline && size > 0 ? size + pad : 0);
    if (need > ARENA) {
      // Inline data bigger than an arena: header, then the buffer itself.
      const at = this.reserve(BLOCK);
      this.arena.fill(0, at, at + BLOCK);
      writeUstar(entry, this.arena, at);
      this.flush();
      this.out.push(e.data!, Buffer.alloc(pad));
      return false;
    }
    const at = this.reserve(need);
    this.arena.fill(0, at, at + BLOCK);
    writeUstar(entry, this.arena, at);
    if (!inline) {
      this.flush();
      return true;
    }
    if (size > 0) {
      if (e.data) e.data.copy(this.arena, at + BLOCK);
      else readSmall(e.source!, this.arena, at + BLOCK, size, e.name);
      if (pad) this.arena.fill(0, at + BLOCK + size, at + need);
    }
    return false;
  }
}

/**
 * Hot path: a sync iterable (the directory walk) is consumed without an await per entry; the generator only
 * yields when an arena is full, so 5,000 small files cost a handful of stream chunks.
 */
async function* generate(entries: AsyncIterable<TarInput> | Iterable<TarInput>, opts: PackTarOptions): AsyncGenerator<Buffer> {
  const enc = new Encoder();
  const it: Iterator<TarInput> | AsyncIterator<TarInput> =
    Symbol.asyncIterator in entries ? (entries as AsyncIterable<TarInput>)[Symbol.asyncIterator]() : (entries as Iterable<TarInput>)[Symbol.iterator]();
  for (;;) {
    let r = it.next();
    if (r instanceof Promise) r = await r;
    const { done, value: e } = r as IteratorResult<TarInput>;
    if (done) break;
    opts.signal?.throwIfAborted();
    const big = enc.add(e);
    while (enc.out.length) yield enc.out.shift()!;
    if (big) {
      yield* e.stream ? readStream(e.stream, e.size, e.name, opts.signal) : readBig(e.source!, e.size, e.name, opts.signal);
      const pad = padding(e.size);
      if (pad) enc.put(Buffer.alloc(pad));
    }
  }
  if (opts.trailer !== false) enc.put(Buffer.alloc(2 * BLOCK));
  enc.flush();
  while (enc.out.length) yield enc.out.shift()!;
}

function changed(name: string, path: string): KilnError {
  return new KilnError('PRECONDITION', `${name}: file changed size while it was packed (${path})`, { hint: 'is something still writing to the directory?' });
}

/** Reads exactly `size` bytes of `path` into `buf` at `off` with blocking calls (hot path for small files). */
function readSmall(path: string, buf: Buffer, off: number, size: number, name: string): void {
  const fd = openSync(path, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  try {
    let got = 0;
    while (got < size) {
      const n = readSync(fd, buf, off + got, size - got, null);
      if (n === 0) throw changed(name, path);
      got += n;
    }
  } finally {
    closeSync(fd);
  }
}

async function* readBig(path: string, size: number, name: string, signal?: AbortSignal): AsyncGenerator<Buffer> {
  const fh = await open(path, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  try {
    let left = size;
    while (left > 0) {
      signal?.throwIfAborted();
      const want = Math.min(left, BIG_READ);
      const buf = Buffer.allocUnsafe(want);
      let got = 0;
      while (got < want) {
        const { bytesRead } = await fh.read(buf, got, want - got, null);
        if (bytesRead === 0) throw changed(name, path);
        got += bytesRead;
      }
      left -= want;
      yield buf;
    }
  } finally {
    await fh.close();
  }
}

/** Passes `stream` through, checking it yields exactly `size` bytes: a short or long body would corrupt the archive. */
async function* readStream(stream: AsyncIterable<Buffer>, size: number, name: string, signal?: AbortSignal): AsyncGenerator<Buffer> {
  let got = 0;
  for await (const chunk of stream) {
    signal?.throwIfAborted();
    got += chunk.length;
    if (got > size) throw new KilnError('PRECONDITION', `${name}: the content stream yielded more than the ${size} bytes its header says`);
    yield chunk;
  }
  if (got !== size) throw new KilnError('PRECONDITION', `${name}: the content stream ended after ${got} of ${size} bytes`);
}
