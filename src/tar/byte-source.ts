/**
 * Pulls exact byte counts out of a chunked async stream without copying where it can: the tar reader's
 * input side. Bodies are handed out as subarrays of the incoming chunks.
 */
export class ByteSource {
  private readonly it: AsyncIterator<Buffer | Uint8Array | string>;
  private chunk: Buffer = Buffer.alloc(0);
  private off = 0;
  private done = false;
  /** Bytes consumed so far (for error messages). */
  position = 0;

  constructor(input: AsyncIterable<Buffer | Uint8Array | string>) {
    this.it = input[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    while (this.off >= this.chunk.length) {
      if (this.done) return false;
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        return false;
      }
      const v = r.value;
      this.chunk = Buffer.isBuffer(v) ? v : typeof v === 'string' ? Buffer.from(v) : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      this.off = 0;
    }
    return true;
  }

  /** Exactly `n` bytes, or fewer only at the end of input. Copies only when `n` spans chunks. */
  async read(n: number): Promise<Buffer> {
    if (!(await this.fill())) return Buffer.alloc(0);
    if (this.chunk.length - this.off >= n) {
      const b = this.chunk.subarray(this.off, this.off + n);
      this.off += n;
      this.position += n;
      return b;
    }
    const out = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n && (await this.fill())) {
      const take = Math.min(n - got, this.chunk.length - this.off);
      this.chunk.copy(out, got, this.off, this.off + take);
      this.off += take;
      got += take;
    }
    this.position += got;
    return got === n ? out : out.subarray(0, got);
  }

  /** Up to `max` bytes from the current chunk (at least 1 unless at end): the zero-copy body path. */
  async readSome(max: number): Promise<Buffer> {
    if (!(await this.fill())) return Buffer.alloc(0);
    const take = Math.min(max, this.chunk.length - this.off);
    const b = this.chunk.subarray(this.off, this.off + take);
    this.off += take;
    this.position += take;
    return b;
  }

  /** Skips `n` bytes; returns how many were skipped (fewer at end of input). */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0 && (await this.fill())) {
      const take = Math.min(left, this.chunk.length - this.off);
      this.off += take;
      left -= take;
    }
    this.position += n - left;
    return n - left;
  }

  /** Consumes the rest of the input (so an upstream pipeline can finish). */
  async drain(): Promise<void> {
    this.off = this.chunk.length;
    while (await this.fill()) this.off = this.chunk.length;
  }

  /** Stops the underlying iterator early (destroys a stream being iterated). */
  async close(): Promise<void> {
    if (!this.done) {
      this.done = true;
      await this.it.return?.();
    }
  }
}
