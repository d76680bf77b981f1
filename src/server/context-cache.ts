/**
 * Unpacked build contexts kept between builds, keyed by the sha256 of the tar as received. A no-op rebuild sends
 * the same bytes again (the docker CLI writes deterministic tars: sorted names, mtimes in seconds, no atimes), so
 * the server reuses the directory it unpacked last time: no unpack, and the builder's stat cache still knows every
 * file (same inodes), so nothing is re-hashed. The body is spooled to disk while it is hashed, then unpacked from
 * the spool on a miss. Entries in use are never evicted; the least recently used idle ones go past `maxEntries`.
 *
 * Layout under `dir`: `<sha256>/` ready contexts, `.spool-*` and `.partial-*` in-flight work (never left behind).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KilnError } from '../errors.js';
import { unpackContext, type IngestLimits } from './context-ingest.js';

export interface ContextLease {
  dir: string;
  /** True when an identical context was already unpacked. */
  reused: boolean;
  /** Bytes received (as sent, maybe compressed). */
  bytes: number;
  /** `sha256:` of the context as received (absent when the server keeps no contexts and so does not hash them). */
  digest?: string;
  release(): Promise<void>;
}

export interface ContextCache {
  acquire(body: AsyncIterable<Buffer> & NodeJS.ReadableStream, limits: IngestLimits, opts?: { signal?: AbortSignal }): Promise<ContextLease>;
  /** Removes every idle entry (the server's close). */
  clear(): Promise<void>;
}

interface Entry {
  dir: string;
  refs: number;
  lastUsed: number;
  /** Uncompressed tar bytes: close to what the unpacked directory holds. */
  bytes: number;
}

/** Hashes and counts what passes; fails past `max` bytes. */
class HashLimit extends Transform {
  readonly hash = createHash('sha256');
  count = 0;
  constructor(private readonly max: number) {
    super();
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.count += chunk.length;
    if (this.count > this.max)
      return cb(
        new KilnError('PAYLOAD_TOO_LARGE', `build context exceeds the server's limit of ${this.max} bytes`, {
          hint: 'use a .dockerignore file, or raise `kiln serve --max-context-size`',
        }),
      );
    this.hash.update(chunk);
    cb(null, chunk);
  }
}

/**
 * `maxEntries` 0 disables keeping: every context is unpacked fresh and removed on release. `maxBytes` (default
 * 2 GiB) bounds the disk the idle kept contexts may hold.
 */
export function createContextCache(opts: { dir: string; maxEntries: number; maxBytes?: number }): ContextCache {
  const maxBytes = opts.maxBytes ?? 2 * 1024 ** 3;
  const entries = new Map<string, Entry>();
  const inflight = new Map<string, Promise<Entry>>();
  const tmpName = (kind: string) => join(opts.dir, `.${kind}-${randomBytes(6).toString('hex')}`);

  async function evict(): Promise<void> {
    const idle = [...entries.entries()].filter(([, e]) => e.refs === 0).sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    let total = [...entries.values()].reduce((a, e) => a + e.bytes, 0);
    for (const [key, e] of idle) {
      if (entries.size <= opts.maxEntries && total <= maxBytes) break;
      entries.delete(key);
      total -= e.bytes;
      await rm(e.dir, { recursive: true, force: true });
    }
  }

  function lease(key: string, e: Entry, reused: boolean, bytes: number): ContextLease {
    e.refs++;
    e.lastUsed = Date.now();
    let released = false;
    return {
      dir: e.dir,
      reused,
      bytes,
      ...(/^[0-9a-f]{64}$/.test(key) ? { digest: `sha256:${key}` } : {}),
      async release() {
        if (released) return;
        released = true;
        e.refs--;
        e.lastUsed = Date.now();
        if (opts.maxEntries === 0 && e.refs === 0) {
          entries.delete(key);
          await rm(e.dir, { recursive: true, force: true });
        } else await evict();
      },
    };
  }

  return {
    async acquire(body, limits, o = {}) {
      await mkdir(opts.dir, { recursive: true });
      if (opts.maxEntries === 0) {
        const dir = tmpName('partial');
        await mkdir(dir);
        try {
          const r = await unpackContext(body, dir, limits, o);
          const key = `fresh-${randomBytes(6).toString('hex')}`;
          const e: Entry = { dir, refs: 0, lastUsed: 0, bytes: r.bytes };
          entries.set(key, e);
          return lease(key, e, false, r.bytes);
        } catch (err) {
          await rm(dir, { recursive: true, force: true });
          throw err;
        }
      }
      const spool = tmpName('spool');
      const spoolOut = createWriteStream(spool);
      try {
        const meter = new HashLimit(limits.maxBytes);
        await pipeline(body, meter, spoolOut, { signal: o.signal });
        const key = meter.hash.digest('hex');
        const have = entries.get(key);
        if (have) return lease(key, have, true, meter.count);
        let job = inflight.get(key);
        if (!job) {
          job = (async () => {
            const partial = tmpName('partial');
            await mkdir(partial);
            try {
              // Not the client's signal: another build may be waiting on this unpack; the spool is complete anyway.
              const r = await unpackContext(createReadStream(spool) as AsyncIterable<Buffer>, partial, limits);
              const dir = join(opts.dir, key);
              await rm(dir, { recursive: true, force: true });
              await rename(partial, dir);
              const e: Entry = { dir, refs: 0, lastUsed: Date.now(), bytes: r.bytes };
              entries.set(key, e);
              return e;
            } catch (err) {
              await rm(partial, { recursive: true, force: true });
              throw err;
            }
          })().finally(() => inflight.delete(key));
          inflight.set(key, job);
        }
        return lease(key, await job, false, meter.count);
      } catch (err) {
        if (o.signal?.aborted && !(err instanceof KilnError)) throw new KilnError('CANCELLED', 'build context upload cancelled', { cause: err });
        throw err;
      } finally {
        // A pipeline that failed early may settle before the spool's open(2) has even run; removing the file
        // first would leave the one that open creates a moment later.
        if (!spoolOut.closed) await new Promise<void>((r) => spoolOut.once('close', () => r()));
        await rm(spool, { force: true });
      }
    },
    async clear() {
      for (const [key, e] of entries) {
        if (e.refs > 0) continue;
        entries.delete(key);
        await rm(e.dir, { recursive: true, force: true });
      }
    },
  };
}
