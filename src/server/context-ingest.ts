/**
 * Unpacks a build context sent as a tar (plain or gzip) into a fresh directory, safely: no absolute paths, no `..`,
 * no writing through a symlink the archive itself planted, a limit on the unpacked size and on the entry count.
 *
 * The docker CLI, when `-f` names a Dockerfile outside the context, appends that file as a last entry and closes
 * the stream without tar's end-of-archive blocks and without the entry's final padding. That stream is accepted
 * when the last entry arrived whole; a tar cut anywhere else is ARCHIVE_INVALID.
 */
import { createGunzip } from 'node:zlib';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { lstat, mkdir, open, symlink, link, unlink, chmod, utimes, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import tar from 'tar-stream';
import { KilnError } from '../errors.js';

export interface IngestLimits {
  /** Most bytes of tar (after decompression) accepted; PAYLOAD_TOO_LARGE past it. */
  maxBytes: number;
  /** Most entries accepted (a guard against millions of empty files). */
  maxEntries?: number;
}

export interface IngestResult {
  /** Uncompressed tar bytes read. */
  bytes: number;
  entries: number;
  compressed: boolean;
}

const BLOCK = 512;

/** Counts bytes flowing through and fails once past `max`. */
class ByteLimit extends Transform {
  count = 0;
  constructor(private readonly max: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.count += chunk.length;
    if (this.count > this.max) cb(new KilnError('PAYLOAD_TOO_LARGE', `build context exceeds the server's limit of ${this.max} bytes`, { hint: 'use a .dockerignore file, or raise `kiln serve --max-context-size`' }));
    else cb(null, chunk);
  }
}

/** Reads the first chunk to sniff the compression, then hands back a stream of the whole body. */
async function sniff(body: AsyncIterable<Buffer>): Promise<{ head: Buffer; stream: Readable }> {
  const it = body[Symbol.asyncIterator]();
  const first = await it.next();
  const head: Buffer = first.done ? Buffer.alloc(0) : first.value;
  async function* all() {
    if (head.length) yield head;
    for (;;) {
      const n = await it.next();
      if (n.done) return;
      yield n.value as Buffer;
    }
  }
  return { head, stream: Readable.from(all(), { objectMode: false }) };
}

/**
 * Splits an archive member name into safe relative parts; throws UNSAFE_PATH for absolute names and `..`.
 * Returns [] for the archive root (`./`).
 */
export function safeParts(name: string): string[] {
  if (name.startsWith('/')) throw new KilnError('UNSAFE_PATH', `build context entry ${JSON.stringify(name.slice(0, 200))} is an absolute path`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new KilnError('UNSAFE_PATH', `build context entry ${JSON.stringify(name.slice(0, 200))} escapes the context with ".."`);
  if (parts.some((p) => p.includes('\0'))) throw new KilnError('UNSAFE_PATH', 'build context entry name holds a NUL byte');
  return parts;
}

/** Unpacks `body` into `dest` (which must exist and be empty). Throws ARCHIVE_INVALID, UNSAFE_PATH, PAYLOAD_TOO_LARGE. */
export async function unpackContext(body: AsyncIterable<Buffer>, dest: string, limits: IngestLimits, opts: { signal?: AbortSignal } = {}): Promise<IngestResult> {
  const { head, stream } = await sniff(body);
  const gzip = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
  if (head.subarray(0, 3).toString('latin1') === 'BZh' || head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) {
    stream.destroy();
    throw new KilnError('ARCHIVE_INVALID', 'build context is bzip2 or xz compressed; send a plain or gzip-compressed tar');
  }
  const counter = new ByteLimit(limits.maxBytes);
  const extract = tar.extract();
  // The first failure wins: when the extractor dies, an entry being read only reports "Stream was destroyed".
  let cause: Error | undefined;
  const fail = (err: Error) => {
    cause ??= err;
    extract.destroy(err);
  };
  extract.on('error', (err: Error) => (cause ??= err));
  const source = gzip ? stream.pipe(createGunzip()).on('error', (e) => fail(new KilnError('ARCHIVE_INVALID', `build context is not valid gzip: ${e.message}`))) : stream;
  stream.on('error', fail);
  counter.on('error', fail);
  source.pipe(counter).pipe(extract as unknown as NodeJS.WritableStream);
  const onAbort = () => fail(new KilnError('CANCELLED', 'build context upload cancelled'));
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  const symlinks = new Set<string>();
  const dirModes: Array<{ path: string; mode: number; mtime?: Date }> = [];
  let entries = 0;
  let last: { size: number; complete: boolean } | undefined;
  try {
    try {
      for await (const entry of extract) {
        const h = entry.header;
        entries++;
        if (limits.maxEntries && entries > limits.maxEntries) throw new KilnError('PAYLOAD_TOO_LARGE', `build context has more than ${limits.maxEntries} entries`);
        const parts = safeParts(h.name);
        last = { size: h.size ?? 0, complete: false };
        const rel = parts.join('/');
        for (let i = 1; i < parts.length; i++) {
          if (symlinks.has(parts.slice(0, i).join('/'))) throw new KilnError('UNSAFE_PATH', `build context entry ${JSON.stringify(rel)} lies under a symlink of the same archive`);
        }
        const target = join(dest, ...parts);
        if (parts.length === 0) {
          entry.resume();
        } else if (h.type === 'directory') {
          await mkdir(target, { recursive: true, mode: 0o755 });
          dirModes.push({ path: target, mode: (h.mode ?? 0o755) & 0o7777, mtime: h.mtime });
          entry.resume();
        } else if (h.type === 'file' || h.type === 'contiguous-file') {
          await prepareLeaf(target, dest);
          const fh = await open(target, 'wx', (h.mode ?? 0o644) & 0o7777);
          try {
            for await (const chunk of entry) await fh.write(chunk as Buffer);
            await fh.chmod((h.mode ?? 0o644) & 0o7777);
          } finally {
            await fh.close();
          }
          if (h.mtime) await utimes(target, h.mtime, h.mtime);
        } else if (h.type === 'symlink') {
          await prepareLeaf(target, dest);
          await symlink(h.linkname ?? '', target);
          symlinks.add(rel);
          entry.resume();
        } else if (h.type === 'link') {
          const from = safeParts(h.linkname ?? '');
          if (from.length === 0 || from.some((_p, i) => symlinks.has(from.slice(0, i + 1).join('/')))) {
            throw new KilnError('UNSAFE_PATH', `build context hard link ${JSON.stringify(rel)} points at a symlink or the root`);
          }
          await prepareLeaf(target, dest);
          await link(join(dest, ...from), target).catch((err) => {
            throw new KilnError('ARCHIVE_INVALID', `build context hard link ${JSON.stringify(rel)} → ${JSON.stringify(h.linkname)}: target missing`, { cause: err });
          });
          entry.resume();
        } else {
          // Devices and FIFOs have no place in a build context; skip them as dockerd's context reader does.
          entry.resume();
        }
        last.complete = true;
      }
    } catch (err) {
      if (!acceptsTruncatedTail(cause ?? err, last, counter.count)) throw cause ?? err;
    }
    for (const d of dirModes.reverse()) {
      await chmod(d.path, d.mode | 0o700);
      if (d.mtime) await utimes(d.path, d.mtime, d.mtime).catch(() => {});
    }
  } catch (err) {
    stream.destroy();
    if (err instanceof KilnError) throw err;
    const code = (err as NodeJS.ErrnoException)?.code;
    if (code === 'ENOTDIR' || code === 'EEXIST' || code === 'EISDIR') {
      throw new KilnError('ARCHIVE_INVALID', `build context has conflicting entries: ${(err as Error).message.replace(dest, '')}`);
    }
    if ((err as Error)?.message?.includes('Unexpected end of data') || /header|checksum|invalid tar/i.test((err as Error)?.message ?? '')) {
      throw new KilnError('ARCHIVE_INVALID', `build context is not a valid tar archive: ${(err as Error).message}`);
    }
    throw err;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
  return { bytes: counter.count, entries, compressed: gzip };
}

/**
 * True for the docker CLI's `-f` tail: the stream ended inside the padding after a complete last entry (the
 * bytes past the last full block are exactly that entry's partial block), which tar-stream reports as a short read.
 */
function acceptsTruncatedTail(err: unknown, last: { size: number; complete: boolean } | undefined, bytes: number): boolean {
  if (!(err instanceof Error) || !/Unexpected end of data/.test(err.message)) return false;
  if (!last?.complete) return false;
  const tail = bytes % BLOCK;
  return tail === 0 || tail === last.size % BLOCK;
}

/** Makes room for a leaf: parent directories exist, and a previous entry of the same name (not a directory) is gone. */
async function prepareLeaf(target: string, dest: string): Promise<void> {
  const parent = dirname(target);
  if (parent !== dest) await mkdir(parent, { recursive: true, mode: 0o755 });
  const st = await lstat(target).catch(() => undefined);
  if (!st) return;
  if (st.isDirectory()) await rm(target, { recursive: true, force: true });
  else await unlink(target);
}
