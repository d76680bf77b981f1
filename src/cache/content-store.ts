/**
 * The content store: blobs by sha256 under `<dir>/blobs/sha256/<hex>` (the blob half of an OCI image layout).
 * Writes go to a temp file in `tmpDir` (same filesystem), hashed while streaming; `commit()` checks size and
 * digest, fsyncs and renames into place, so a half-written blob is never visible and SIGKILL at any point
 * leaves at most a temp file. A blob that already exists is a success (its mtime is refreshed so a concurrent
 * prune's grace window sees it as fresh).
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat, unlink, utimes, type FileHandle } from 'node:fs/promises';
import { closeSync, fstatSync, openSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Writable, addAbortSignal, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KilnError } from '../errors.js';
import { assertDigest, digestHex, isDigest } from '../image/digest.js';
import type { Digest } from '../image/types.js';
import { fsyncDir } from './atomic-file.js';
import { phase } from './profile.js';
import type { BlobInfo, ContentStore, ContentWriter, IoOptions, WriteOptions } from './types.js';

export interface ContentStoreOptions {
  /** Scratch directory on the same filesystem as `dir` (default `<dir>/.kiln-tmp`). */
  tmpDir?: string;
}

/** The content store of the OCI layout at `dir`. Creates `blobs/sha256` and the temp dir on first write. */
export function createContentStore(dir: string, opts: ContentStoreOptions = {}): ContentStore {
  const blobsDir = join(dir, 'blobs', 'sha256');
  const tmpDir = opts.tmpDir ?? join(dir, '.kiln-tmp');

  const blobPath = (digest: Digest): string => join(blobsDir, digestHex(assertDigest(digest)));
  const tempPath = (): string => join(tmpDir, `blob-${randomBytes(8).toString('hex')}`);

  /** Blobs up to this size are read whole synchronously by readBuffer. */
  const SMALL_BLOB = 256 * 1024;

  async function info(digest: Digest): Promise<BlobInfo | undefined> {
    try {
      // Synchronous: every cached step asks whether its blob is there, and an async stat costs ten times more.
      const st = statSync(blobPath(digest));
      return { digest, size: st.size };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async function openBlob(digest: Digest): Promise<FileHandle> {
    try {
      return await open(blobPath(digest), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new KilnError('BLOB_NOT_FOUND', `blob ${digest} not found in ${dir}`, { cause: err });
      }
      throw err;
    }
  }

  /** Publishes a finished, fsynced temp file as `digest`; drops it if the blob exists already. */
  async function publish(tmp: string, digest: Digest, opts: WriteOptions): Promise<void> {
    await opts.lease?.add(digest);
    const target = blobPath(digest);
    const existing = await stat(target).catch(() => undefined);
    if (existing) {
      await unlink(tmp).catch(() => {});
      const now = new Date();
      await utimes(target, now, now).catch(() => {});
      return;
    }
    await mkdir(blobsDir, { recursive: true });
    await rename(tmp, target);
    await fsyncDir(blobsDir);
  }

  function mismatch(expected: Partial<BlobInfo>, got: BlobInfo): KilnError | undefined {
    if (expected.size !== undefined && expected.size !== got.size) {
      return new KilnError('SIZE_MISMATCH', `blob ${expected.digest ?? got.digest}: expected ${expected.size} bytes, got ${got.size}`);
    }
    if (expected.digest !== undefined && expected.digest !== got.digest) {
      return new KilnError('DIGEST_MISMATCH', `blob digest mismatch: expected ${expected.digest}, got ${got.digest}`);
    }
    return undefined;
  }

  async function writer(wopts: WriteOptions = {}): Promise<ContentWriter> {
    await mkdir(tmpDir, { recursive: true });
    const tmp = tempPath();
    const fh = await open(tmp, 'wx', 0o444);
    const hash = createHash('sha256');
    let written = 0;
    let closed = false;
    let done = false;

    const writeAll = async (buf: Buffer): Promise<void> => {
      let off = 0;
      while (off < buf.length) {
        const { bytesWritten } = await fh.write(buf, off, buf.length - off, null);
        off += bytesWritten;
      }
    };
    const stream = new Writable({
      highWaterMark: 1 << 20,
      write(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        written += chunk.length;
        writeAll(chunk).then(() => cb(), cb);
      },
      writev(chunks, cb) {
        const bufs = chunks.map((c) => c.chunk as Buffer);
        for (const b of bufs) {
          hash.update(b);
          written += b.length;
        }
        writeAll(Buffer.concat(bufs)).then(() => cb(), cb);
      },
    });
    const finished = new Promise<void>((resolve, reject) => {
      stream.once('finish', resolve);
      stream.once('error', reject);
    });
    finished.catch(() => {});

    const closeFile = async () => {
      if (!closed) {
        closed = true;
        await fh.close().catch(() => {});
      }
    };
    let aborting: Promise<void> | undefined;
    const abort = (): Promise<void> => {
      if (done) return aborting ?? Promise.resolve();
      done = true;
      aborting = (async () => {
        if (!stream.destroyed && !stream.writableFinished) stream.destroy();
        await closeFile();
        await rm(tmp, { force: true });
      })();
      return aborting;
    };
    // A failed clean-up is reported to a later abort() call (it returns the same `aborting` promise), not here.
    const onAbort = () => {
      abort().catch(() => {});
    };
    wopts.signal?.addEventListener('abort', onAbort, { once: true });

    /** Hashes and checks now; fsyncs and publishes in `durable` (the caller awaits it, now or later). */
    async function seal(expected: Partial<BlobInfo> = {}): Promise<{ info: BlobInfo; durable: Promise<void> }> {
      if (done) throw new KilnError('INTERNAL', 'content writer already committed or aborted');
      const fail = async (err: unknown): Promise<never> => {
        done = false;
        await abort();
        throw err;
      };
      let got: BlobInfo;
      try {
        if (wopts.signal?.aborted) throw new KilnError('CANCELLED', 'blob write cancelled');
        if (!stream.writableEnded) stream.end();
        await finished;
        got = { digest: `sha256:${hash.digest('hex')}`, size: written };
        const bad = mismatch(expected, got);
        if (bad) throw bad;
      } catch (err) {
        wopts.signal?.removeEventListener('abort', onAbort);
        return fail(err);
      }
      // From here the bytes are final: a cancellation no longer removes them, only a failure to store them does.
      done = true;
      wopts.signal?.removeEventListener('abort', onAbort);
      const durable = (async () => {
        try {
          // Deferred phases when the caller did not wait (a build step): off that step's path.
          await phase('blob.fsync', () => fh.sync());
          await closeFile();
          await phase('blob.publish', () => publish(tmp, got.digest, wopts));
        } catch (err) {
          await fail(err);
        }
      })();
      durable.catch(() => {}); // observed by whoever awaits it; never an unhandled rejection meanwhile
      return { info: got, durable };
    }

    return {
      stream,
      get written() {
        return written;
      },
      async commit(expected: Partial<BlobInfo> = {}): Promise<BlobInfo> {
        const { info, durable } = await seal(expected);
        await durable;
        return info;
      },
      seal,
      abort,
    };
  }

  const store: ContentStore = {
    blobPath,
    async has(digest) {
      return (await info(digest)) !== undefined;
    },
    info,
    async read(digest, ropts: IoOptions = {}): Promise<Readable> {
      const fh = await openBlob(digest);
      const rs = fh.createReadStream({ highWaterMark: 1 << 20 });
      return ropts.signal ? addAbortSignal(ropts.signal, rs) : rs;
    },
    async readBuffer(digest) {
      // The blobs a build reads whole are configs, manifests and indexes, a few KiB: read synchronously (four
      // thread-pool round trips otherwise, most of a no-op's export); anything bigger, asynchronously.
      let fd: number;
      try {
        fd = openSync(blobPath(digest), 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new KilnError('BLOB_NOT_FOUND', `blob ${digest} not found in ${dir}`, { cause: err });
        throw err;
      }
      try {
        if (fstatSync(fd).size <= SMALL_BLOB) return readFileSync(fd);
      } finally {
        closeSync(fd);
      }
      const fh = await openBlob(digest);
      try {
        return await fh.readFile();
      } finally {
        await fh.close();
      }
    },
    async readJson<T>(digest: Digest): Promise<T> {
      const buf = await store.readBuffer(digest);
      try {
        return JSON.parse(buf.toString('utf8')) as T;
      } catch (err) {
        throw new KilnError('STORE_CORRUPT', `blob ${digest} is not valid JSON`, { cause: err });
      }
    },
    writer,
    async writeBuffer(data, expected = {}, wopts: WriteOptions = {}) {
      const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      const got: BlobInfo = { digest: `sha256:${createHash('sha256').update(buf).digest('hex')}`, size: buf.length };
      const bad = mismatch(expected, got);
      if (bad) throw bad;
      // Lease first: once leased, a concurrent prune keeps the blob, so "exists" below stays true.
      await wopts.lease?.add(got.digest);
      if (await info(got.digest)) {
        const now = new Date();
        await utimes(blobPath(got.digest), now, now).catch(() => {});
        return got;
      }
      await mkdir(tmpDir, { recursive: true });
      const tmp = tempPath();
      try {
        const fh = await open(tmp, 'wx', 0o444);
        try {
          await fh.writeFile(buf);
          await phase('blob.fsync', () => fh.sync());
        } finally {
          await fh.close();
        }
        await phase('blob.publish', () => publish(tmp, got.digest, {}));
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
      return got;
    },
    async delete(digest) {
      await unlink(blobPath(digest)).catch((err) => {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      });
    },
    async *list(): AsyncIterable<BlobInfo> {
      let names: string[];
      try {
        names = await readdir(blobsDir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      for (const name of names.sort()) {
        const digest = `sha256:${name}`;
        if (!isDigest(digest)) continue;
        const st = await stat(join(blobsDir, name)).catch(() => undefined);
        if (st?.isFile()) yield { digest, size: st.size };
      }
    },
  };
  return store;
}

/** Streams `source` into the store and commits it against `expected`; returns the blob's digest and size. */
export async function writeBlob(
  store: ContentStore,
  source: Readable | AsyncIterable<Buffer>,
  expected: Partial<BlobInfo> = {},
  opts: WriteOptions = {},
): Promise<BlobInfo> {
  const w = await store.writer(opts);
  try {
    await pipeline(source, w.stream, { signal: opts.signal });
  } catch (err) {
    await w.abort();
    throw err;
  }
  return w.commit(expected);
}

/** Re-hashes a stored blob; returns its actual digest and size (equal to `digest` when intact). */
export async function hashBlob(store: ContentStore, digest: Digest, opts: IoOptions = {}): Promise<BlobInfo> {
  const hash = createHash('sha256');
  let size = 0;
  const src = await store.read(digest, opts);
  for await (const chunk of src) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}
