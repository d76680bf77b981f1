/**
 * A streaming tar writer. Entries come from an (async) iterable; regular files are read from disk on a fast
 * path: small files are read synchronously straight into a 1 MiB output arena (one read per file, no copies,
 * few large chunks downstream), big files stream in 1 MiB reads. The output is a Readable that only pulls the
 * next entry when downstream (hashing, compression, disk) wants more, so memory stays bounded.
 */
import { closeSync, constants as fsc, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { KilnError } from '../../errors.js';
import { BLOCK, encodeHeader, padding, type TarEntry } from './header.js';

/** An entry to write: content comes from `data`, else from the file at `source` (regular files only). */
export interface TarInput extends TarEntry {
  data?: Buffer;
  /** Absolute path of the file whose `size` bytes become the content (read with O_NOFOLLOW). */
  source?: string;
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

async function* generate(entries: AsyncIterable<TarInput> | Iterable<TarInput>, opts: PackTarOptions): AsyncGenerator<Buffer> {
  let arena = Buffer.allocUnsafe(ARENA);
  let used = 0;
  /** Hands out the filled part of the arena and starts a new one. */
  const flush = (): Buffer | undefined => {
    if (used === 0) return undefined;
    const out = arena.subarray(0, used);
    arena = Buffer.allocUnsafe(ARENA);
    used = 0;
    return out;
  };
  const put = function* (b: Buffer): Generator<Buffer> {
    if (b.length > ARENA - used) {
      const out = flush();
      if (out) yield out;
      if (b.length > ARENA) return yield b;
    }
    b.copy(arena, used);
    used += b.length;
  };

  for await (const e of entries as AsyncIterable<TarInput>) {
    opts.signal?.throwIfAborted();
    const size = e.type === 'file' ? e.size : 0;
    const header = encodeHeader(size === e.size ? e : { ...e, size });
    const pad = padding(size);
    if (size === 0) {
      yield* put(header);
    } else if (e.data) {
      if (e.data.length !== e.size) throw new KilnError('INTERNAL', `tar entry ${e.name}: data is ${e.data.length} bytes, size says ${e.size}`);
      yield* put(header);
      yield* put(e.data);
      yield* put(Buffer.alloc(pad));
    } else if (e.source && e.size <= SMALL_FILE) {
      const need = header.length + e.size + pad;
      if (need > ARENA - used) {
        const out = flush();
        if (out) yield out;
      }
      header.copy(arena, used);
      readSmall(e.source, arena, used + header.length, e.size, e.name);
      arena.fill(0, used + header.length + e.size, used + need);
      used += need;
    } else if (e.source) {
      yield* put(header);
      const out = flush();
      if (out) yield out;
      yield* readBig(e.source, e.size, e.name, opts.signal);
      if (pad) yield Buffer.alloc(pad);
    } else {
      throw new KilnError('INTERNAL', `tar entry ${e.name}: a file needs data or a source path`);
    }
  }
  if (opts.trailer !== false) yield* put(Buffer.alloc(2 * BLOCK));
  const out = flush();
  if (out) yield out;
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
