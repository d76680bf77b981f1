/**
 * What an imported cache is, whatever holds it, and the small helpers every holder shares. A `LoadedCache` is a
 * cache config parsed once, plus a way to open its blobs (from a registry repository or an OCI layout directory).
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { KilnError } from '../errors.js';
import type { Descriptor, Digest } from '../image/types.js';
import type { ParsedCache } from './cache-config.js';

export interface LoadedCache {
  /** The cache as the user named it (`127.0.0.1:5000/team/app:cache`, `/ci/cache (local)`), for messages. */
  name: string;
  parsed: ParsedCache;
  /** Opens a blob of the cache at `offset` (for resumed copies). */
  open(desc: Descriptor, offset: number, signal?: AbortSignal): Promise<Readable>;
  /** The registry repository holding the blobs, when it is one (a push to that registry can mount from it). */
  registry?: { registry: string; repository: string };
  /** Requests made to load it (for the lazy-import guarantee: one round trip for the config). */
  requests: number;
  /** A server default: reached with the server's logins. */
  operator?: boolean;
}

/** What an export writes: the cache config's bytes and the layer blobs it names, and where to read them from. */
export interface CachePayload {
  config: Buffer;
  layers: Descriptor[];
  /** Opens a layer blob to upload or copy (the local store, or the cache it was imported from). */
  open(desc: Descriptor, signal?: AbortSignal): Promise<Readable>;
  onProgress?(status: string): void;
}

/** Reads a small blob into memory, refusing more than `limit` bytes and checking its digest. */
export async function readSmallBlob(stream: Readable, desc: Descriptor, limit: number, what: string): Promise<Buffer> {
  if (desc.size > limit) {
    stream.destroy();
    throw new KilnError('CACHE_TOO_LARGE', `${what}: ${desc.digest} is ${desc.size} bytes, over the ${limit}-byte limit`);
  }
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    n += (c as Buffer).length;
    if (n > desc.size) {
      stream.destroy();
      throw new KilnError('SIZE_MISMATCH', `${what}: ${desc.digest} is longer than its ${desc.size} bytes; refused`);
    }
    chunks.push(c as Buffer);
  }
  const body = Buffer.concat(chunks);
  const digest: Digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  if (digest !== desc.digest) throw new KilnError('DIGEST_MISMATCH', `${what}: expected ${desc.digest}, got ${digest}; refused`);
  return body;
}

/** Parses JSON bytes or throws CACHE_INVALID naming `what`. */
export function parseJson(body: Buffer, what: string): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new KilnError('CACHE_INVALID', `${what} is not valid JSON`);
  }
}
