/**
 * gzip on every core, the way pigz's independent-block mode does it: the input is cut into fixed 1 MiB
 * blocks, each compressed as its own gzip member on the thread pool, and the members are written in order.
 * A concatenation of members is one valid gzip stream (RFC 1952; Go's compress/gzip, which containerd, Docker,
 * skopeo and umoci use, and Node's gunzip read it whole). The output depends only on the input bytes and the
 * block size, never on chunking or timing, so layers stay reproducible. Cost: ~20 bytes and a fresh
 * dictionary per MiB (well under 1% larger).
 */
import { availableParallelism } from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import { promisify } from 'node:util';
import { constants as zc, gzip } from 'node:zlib';

const gzipAsync = promisify(gzip);

export const GZIP_BLOCK = 1024 * 1024;

export interface ParallelGzipOptions {
  level: number;
  /** Blocks compressed at once (default: cores + 1, so one is always queued). */
  concurrency?: number;
}

/** A Transform producing multi-member gzip, compressing up to `concurrency` blocks at once. */
export class ParallelGzip extends Transform {
  private readonly level: number;
  private readonly concurrency: number;
  private block: Buffer[] = [];
  private blockLen = 0;
  /** Blocks being compressed, in input order. */
  private readonly pending: Array<Promise<Buffer>> = [];
  private started = false;

  constructor(opts: ParallelGzipOptions) {
    super();
    this.level = opts.level;
    this.concurrency = opts.concurrency ?? availableParallelism() + 1;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.run(async () => {
      let off = 0;
      while (off < chunk.length) {
        const take = Math.min(GZIP_BLOCK - this.blockLen, chunk.length - off);
        this.block.push(chunk.subarray(off, off + take));
        this.blockLen += take;
        off += take;
        if (this.blockLen === GZIP_BLOCK) await this.submit();
      }
    }, cb);
  }

  override _flush(cb: TransformCallback): void {
    this.run(async () => {
      // An empty input still gives one (empty) member: a valid gzip stream.
      if (this.blockLen > 0 || !this.started) await this.submit();
      while (this.pending.length) this.push(await this.pending.shift()!);
    }, cb);
  }

  private run(fn: () => Promise<void>, cb: TransformCallback): void {
    fn().then(() => cb(), cb);
  }

  /** Starts compressing the current block; waits for the oldest first when `concurrency` are in flight. */
  private async submit(): Promise<void> {
    const data = this.block.length === 1 ? this.block[0]! : Buffer.concat(this.block, this.blockLen);
    this.block = [];
    this.blockLen = 0;
    this.started = true;
    const p = gzipAsync(data, { level: this.level, chunkSize: 256 * 1024, flush: zc.Z_NO_FLUSH });
    p.catch(() => {}); // observed when awaited in order; avoids an unhandled rejection meanwhile
    this.pending.push(p);
    while (this.pending.length >= this.concurrency) this.push(await this.pending.shift()!);
  }
}
