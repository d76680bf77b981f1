/**
 * One step's log as it is written: gzip, with a sync flush after each burst of output so a build killed mid-step
 * leaves a file that decompresses up to its last flush (store.ts reads it with `finishFlush`). Output is never
 * clipped (BuildKit stops at 2 MiB, buildx#484): every byte a step prints is kept, compressed.
 */
import { constants as fsc, createWriteStream, type WriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { constants as zc, createGzip, type Gzip } from 'node:zlib';
import { stepLogPath } from './store.js';

/** A step log open for appending. `bytes` counts the uncompressed bytes written. */
export interface StepLogWriter {
  readonly bytes: number;
  write(data: string | Buffer): void;
  /** Ends the gzip stream (trailer written) and closes the file. */
  close(): Promise<void>;
}

/** Flush at most this often while output streams in: each flush costs a few bytes and a write(2). */
const FLUSH_MS = 200;

/** Opens (creates, no-follow) step `step`'s log in record `id`. */
export async function openStepLog(root: string, id: string, step: number): Promise<StepLogWriter> {
  const fh = await open(stepLogPath(root, id, step), fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC | fsc.O_NOFOLLOW, 0o600);
  const file: WriteStream = createWriteStream('', { fd: fh });
  const gz: Gzip = createGzip({ level: 6 });
  gz.pipe(file);
  let bytes = 0;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let closing: Promise<void> | undefined;
  const flush = () => {
    timer = undefined;
    if (!closed) gz.flush(zc.Z_SYNC_FLUSH);
  };
  return {
    get bytes() {
      return bytes;
    },
    write(data) {
      if (closed) return;
      const buf = typeof data === 'string' ? Buffer.from(data) : data;
      bytes += buf.length;
      gz.write(buf);
      if (!timer) {
        timer = setTimeout(flush, FLUSH_MS);
        timer.unref();
      }
    },
    close() {
      // Every caller waits for the same end: the build's finish must not pass a close the step's end began.
      if (closing) return closing;
      closed = true;
      if (timer) clearTimeout(timer);
      closing = new Promise<void>((resolve, reject) => {
        file.once('close', resolve);
        file.once('error', reject);
        gz.end();
      });
      return closing;
    },
  };
}
