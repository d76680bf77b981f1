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
import { constants } from 'node:fs';
import { lstat, open, symlink, link, unlink, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import tar from 'tar-stream';
import { KilnError } from '../errors.js';
import { mkdirInRoot, resolveInRoot } from '../paths/in-root.js';

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
    if (this.count > this.max)
      cb(
        new KilnError('PAYLOAD_TOO_LARGE', `build context exceeds the server's limit of ${this.max} bytes`, {
          hint: 'use a .dockerignore file, or raise `kiln serve --max-context-size`',
        }),
      );
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
export async function unpackContext(
  body: AsyncIterable<Buffer>,
  dest: string,
  limits: IngestLimits,
  opts: { signal?: AbortSignal } = {},
): Promise<IngestResult> {
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
  const source = gzip
    ? stream.pipe(createGunzip()).on('error', (e) => fail(new KilnError('ARCHIVE_INVALID', `build context is not valid gzip: ${e.message}`)))
    : stream;
  stream.on('error', fail);
  counter.on('error', fail);
  source.pipe(counter).pipe(extract as unknown as NodeJS.WritableStream);
  const onAbort = () => fail(new KilnError('CANCELLED', 'build context upload cancelled'));
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  const symlinks = new Set<string>();
  const leaf = createLeafMaker(dest);
  const umask = process.umask();
  const dirModes: Array<{ path: string; parts: string[]; mode: number; mtime?: Date }> = [];
  let entries = 0;
  let last: { size: number; complete: boolean } | undefined;
  try {
    try {
      for await (const entry of extract) {
        const h = entry.header;
        entries++;
        if (limits.maxEntries && entries > limits.maxEntries)
          throw new KilnError('PAYLOAD_TOO_LARGE', `build context has more than ${limits.maxEntries} entries`);
        const parts = safeParts(h.name);
        last = { size: h.size ?? 0, complete: false };
        const rel = parts.join('/');
        for (let i = 1; i < parts.length; i++) {
          if (symlinks.has(parts.slice(0, i).join('/')))
            throw new KilnError('UNSAFE_PATH', `build context entry ${JSON.stringify(rel)} lies under a symlink of the same archive`);
        }
        const target = join(dest, ...parts);
        if (parts.length === 0) {
          entry.resume();
        } else if (h.type === 'directory') {
          // An earlier entry of this name that is not a directory (a symlink to a host directory, say) is replaced,
          // never followed: the directory's mode and times are applied to what is here, below.
          if (await leaf.replaceNonDirectory(target)) symlinks.delete(rel);
          await leaf.mkdirs(target);
          dirModes.push({ path: target, parts, mode: (h.mode ?? 0o755) & 0o7777, mtime: h.mtime });
          entry.resume();
        } else if (h.type === 'file' || h.type === 'contiguous-file') {
          // Hot path (once per context file): open, write, futimes, close; chmod only when the umask bit it.
          // `wx` is O_CREAT|O_EXCL: never opens through a symlink already at that name (prepare removed it).
          await leaf.prepare(target);
          symlinks.delete(rel);
          const mode = (h.mode ?? 0o644) & 0o7777;
          const fh = await open(target, 'wx', mode);
          try {
            for await (const chunk of entry) await fh.write(chunk as Buffer);
            if (mode & umask) await fh.chmod(mode);
            if (h.mtime) await fh.utimes(h.mtime, h.mtime);
          } finally {
            await fh.close();
          }
        } else if (h.type === 'symlink') {
          await leaf.prepare(target);
          await symlink(h.linkname ?? '', target);
          symlinks.add(rel);
          entry.resume();
        } else if (h.type === 'link') {
          symlinks.delete(rel);
          const from = safeParts(h.linkname ?? '');
          if (from.length === 0 || from.some((_p, i) => symlinks.has(from.slice(0, i + 1).join('/')))) {
            throw new KilnError('UNSAFE_PATH', `build context hard link ${JSON.stringify(rel)} points at a symlink or the root`);
          }
          await leaf.prepare(target);
          // The source's parents are walked by the one resolver too (no symlinks); link(2) does not follow the last.
          const source = await resolveInRoot(dest, from.join('/'), {
            noSymlinks: true,
            followFinal: false,
            what: `build context hard link ${JSON.stringify(rel)}`,
          });
          await link(source.path, target).catch((err) => {
            throw new KilnError('ARCHIVE_INVALID', `build context hard link ${JSON.stringify(rel)} → ${JSON.stringify(h.linkname)}: target missing`, {
              cause: err,
            });
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
      // Touch only what is still a directory this unpacking made, reached through no symlink of the archive (a
      // later entry may have replaced one of its parents with a link out of the context); setDirMeta itself
      // works through an O_NOFOLLOW descriptor.
      if (d.parts.some((_p, i) => symlinks.has(d.parts.slice(0, i + 1).join('/')))) continue;
      await setDirMeta(d.path, d.mode | 0o700, d.mtime);
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
 * Sets a directory's mode and times through a descriptor opened with O_NOFOLLOW: a later entry of the archive may
 * have replaced the directory with a symlink (to a host directory), which must not be followed. Its parents hold
 * no symlink (entries under a symlink are refused), so only the last component needs the check.
 */
async function setDirMeta(path: string, mode: number, mtime: Date | undefined): Promise<void> {
  let fh;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Replaced by a symlink or a file, or removed: nothing of ours to set.
    if (code === 'ELOOP' || code === 'ENOTDIR' || code === 'ENOENT') return;
    throw err;
  }
  try {
    await fh.chmod(mode);
    if (mtime) await fh.utimes(mtime, mtime).catch(() => {});
  } finally {
    await fh.close();
  }
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

/**
 * Makes room for leaves: parent directories exist, and an earlier entry of the same name is gone. Remembers the
 * directories it made and the names written, so the common case (a new name in a known directory) costs no
 * syscall at all.
 */
function createLeafMaker(dest: string) {
  const dirs = new Set<string>([dest]);
  const written = new Set<string>();
  async function mkdirs(dir: string): Promise<void> {
    if (dirs.has(dir)) return;
    // kiln's one resolver, refusing any symlink on the way: a context's own links are never walked through.
    await mkdirInRoot(dest, dir.slice(dest.length) || '/', {
      noSymlinks: true,
      mode: 0o755,
      what: `build context entry ${JSON.stringify(dir.slice(dest.length + 1, dest.length + 201))}`,
    });
    for (let d = dir; d.length > dest.length && !dirs.has(d); d = dirname(d)) dirs.add(d);
  }
  return {
    mkdirs,
    /** Removes a non-directory at `target` (never following it); true when it removed one. */
    async replaceNonDirectory(target: string): Promise<boolean> {
      const st = await lstat(target).catch(() => undefined);
      if (!st || st.isDirectory()) return false;
      await unlink(target);
      written.delete(target);
      return true;
    },
    async prepare(target: string): Promise<void> {
      await mkdirs(dirname(target));
      if (!written.has(target) && !dirs.has(target)) {
        written.add(target);
        return;
      }
      // A duplicate name (the archive repeats an entry): replace what is there.
      const st = await lstat(target).catch(() => undefined);
      if (st?.isDirectory()) {
        await rm(target, { recursive: true, force: true });
        for (const d of [...dirs]) if (d === target || d.startsWith(`${target}/`)) dirs.delete(d);
      } else if (st) await unlink(target);
    },
  };
}
