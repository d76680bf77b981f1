/**
 * The one copy routine: moves a blob from a source (a registry fetcher, or the local store) into a content writer
 * (the local store's, or a registry upload), with bounded retries. After a transient failure it continues where
 * the destination stands: a store writer keeps what it hashed so far and the source is reopened at that offset
 * (`Range`); a chunked upload asks the registry (`resumeOffset()`); a monolithic upload starts over. The writer
 * verifies digest and size on commit; a blob that would grow past its descriptor's size is cut off at once, so a
 * hostile server cannot fill the disk. On failure the writer is aborted: nothing half-written stays.
 */
import { finished } from 'node:stream/promises';
import { Transform, type Readable } from 'node:stream';
import type { BlobInfo, ContentWriter } from '../cache/types.js';
import { KilnError } from '../errors.js';
import type { Descriptor } from '../image/types.js';
import { isTransientError } from './http.js';
import type { UploadWriter } from './types.js';

export interface CopyOptions {
  signal?: AbortSignal;
  maxAttempts: number;
  backoff: (attempt: number, signal?: AbortSignal) => Promise<void>;
  /** Bytes in the destination so far (after each chunk). */
  onProgress?: (current: number) => void;
  /** Called before a retry, with the failure (for a `retrying` progress event). */
  onRetry?: (err: unknown, attempt: number) => void;
  /** Names the blob in errors: `127.0.0.1:5000/app blob sha256:…`. */
  what: string;
}

/** Opens the source at a byte offset. */
export type OpenSource = (offset: number, signal?: AbortSignal) => Promise<Readable>;
/** A fresh writer, or undefined when the destination turns out to hold the blob already. */
export type OpenWriter = () => Promise<ContentWriter | UploadWriter | undefined>;

/** Copies `desc` from `open` into writers from `openWriter`; returns undefined when the destination had it. */
export async function copyBlob(desc: Descriptor, open: OpenSource, openWriter: OpenWriter, opts: CopyOptions): Promise<BlobInfo | undefined> {
  let writer = await openWriter();
  if (!writer) return undefined;
  const state = { offset: 0 };
  for (let attempt = 1; ; attempt++) {
    try {
      const src = await open(state.offset, opts.signal);
      await pump(src, writer, desc, state, opts);
      if (state.offset !== desc.size) {
        throw new KilnError('SIZE_MISMATCH', `${opts.what}: got ${state.offset} bytes, the descriptor says ${desc.size}; refused`);
      }
      const stream = writer.stream;
      // finished(), not once('finish'): a writer destroyed meanwhile rejects instead of never finishing.
      if (!stream.writableEnded) {
        stream.end();
        if (!stream.writableFinished) await finished(stream, { readable: false });
      }
      return await writer.commit({ digest: desc.digest, size: desc.size });
    } catch (err) {
      const transient = isTransientError(err) && !opts.signal?.aborted;
      if (!transient || attempt >= opts.maxAttempts) {
        await writer.abort().catch(() => undefined);
        throw wrap(err, opts.what, attempt);
      }
      opts.onRetry?.(err, attempt);
      await opts.backoff(attempt, opts.signal);
      const w = writer as UploadWriter;
      if ('resumeOffset' in w && typeof w.resumeOffset === 'function') {
        const at = await w.resumeOffset();
        if (at !== undefined) {
          state.offset = at;
          continue;
        }
      } else if (!writer.stream.destroyed) {
        continue; // everything handed to the writer is in it: reopen the source where we stopped
      }
      await writer.abort().catch(() => undefined);
      writer = await openWriter();
      if (!writer) return undefined;
      state.offset = 0;
    }
  }
}

/** Bytes gathered before one write to the destination (the store writer's buffer size): fewer, larger writes. */
const COALESCE_BYTES = 1 << 20;

/**
 * Writes `src` into the writer without ending it (so a store writer survives a broken source); advances
 * `state.offset` by what the writer was handed. Socket chunks (64 KiB) are gathered into 1 MiB writes, which
 * measured ~15% faster into the store; bytes gathered when the source breaks are still handed over.
 */
async function pump(src: Readable, writer: ContentWriter, desc: Descriptor, state: { offset: number }, opts: CopyOptions): Promise<void> {
  const dst = writer.stream;
  let failed: unknown;
  const onDstError = (err: unknown): void => {
    failed = err;
    src.destroy();
  };
  dst.once('error', onDstError);
  let pending: Buffer[] = [];
  let pendingLen = 0;
  /** After a write: waits out back-pressure; a writer that failed or was destroyed meanwhile ends the pump. */
  const settle = async (accepted: boolean): Promise<void> => {
    if (!accepted) await drained(dst);
    if (failed) throw failed;
    if ((dst as NodeJS.WritableStream & { destroyed?: boolean }).destroyed) throw new KilnError('CANCELLED', `${opts.what}: the upload was cancelled`);
  };
  const handOver = (): boolean => {
    const buf = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingLen);
    pending = [];
    pendingLen = 0;
    state.offset += buf.length;
    return dst.write(buf);
  };
  try {
    for await (const chunk of src as AsyncIterable<Buffer>) {
      if (failed) throw failed;
      if (state.offset + pendingLen + chunk.length > desc.size) {
        src.destroy();
        throw new KilnError('SIZE_MISMATCH', `${opts.what}: more bytes than the descriptor's ${desc.size}; refused`);
      }
      pending.push(chunk);
      pendingLen += chunk.length;
      if (pendingLen < COALESCE_BYTES) continue;
      await settle(handOver());
      opts.onProgress?.(state.offset);
    }
    if (pendingLen > 0) await settle(handOver());
    if (failed) throw failed;
    opts.onProgress?.(state.offset);
  } catch (err) {
    src.destroy();
    // Good bytes received before a source failure still count: a resume continues after them.
    if (!failed && pendingLen > 0 && !dst.destroyed && !(err instanceof KilnError && err.code === 'SIZE_MISMATCH')) handOver();
    throw failed ?? err;
  } finally {
    dst.off('error', onDstError);
  }
}

/** Resolves on 'drain' or 'close' (a destroyed writer never drains), removing both listeners. */
function drained(dst: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => {
    // A writer destroyed already (a failed or cancelled upload) has emitted its 'close': waiting would hang.
    if ((dst as NodeJS.WritableStream & { destroyed?: boolean }).destroyed) {
      resolve();
      return;
    }
    const done = (): void => {
      dst.off('drain', done);
      dst.off('close', done);
      resolve();
    };
    dst.on('drain', done);
    dst.on('close', done);
  });
}

function wrap(err: unknown, what: string, attempts: number): unknown {
  // The store's verdict names only digests; say which registry and repository sent the bad bytes.
  if (err instanceof KilnError && (err.code === 'DIGEST_MISMATCH' || err.code === 'SIZE_MISMATCH') && !err.message.startsWith(what)) {
    return new KilnError(err.code, `${what}: ${err.message}; refused`, { cause: err });
  }
  if (err instanceof KilnError && !isTransientError(err)) return err;
  const e = err as NodeJS.ErrnoException;
  return new KilnError('REGISTRY_UNAVAILABLE', `${what}: transfer failed after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${e?.message ?? String(err)}`, {
    cause: err,
  });
}

/**
 * A source that cannot seek, reopened at `offset`: the first `offset` bytes of a fresh stream are dropped (a
 * resumed upload, or a server that ignored `Range`).
 */
export function skipBytes(src: Readable, offset: number): Readable {
  if (offset === 0) return src;
  let left = offset;
  const out = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (left >= chunk.length) {
        left -= chunk.length;
        cb();
        return;
      }
      const rest = chunk.subarray(left);
      left = 0;
      cb(null, rest);
    },
  });
  src.on('error', (err) => out.destroy(err));
  return src.pipe(out);
}
