/**
 * sha256 digests: computing, validating and shortening them. kiln stores only sha256 content; other
 * algorithms are rejected where a digest enters the store.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { KilnError } from '../errors.js';
import { canonicalJsonBytes } from './canonical-json.js';
import type { Digest } from './types.js';

const SHA256_RE = /^sha256:[a-f0-9]{64}$/;

/** True for `sha256:<64 lower-case hex>`. */
export function isDigest(s: unknown): s is Digest {
  return typeof s === 'string' && SHA256_RE.test(s);
}

/** Throws INVALID_ARGUMENT naming `what` unless `s` is a sha256 digest; returns it typed. */
export function assertDigest(s: unknown, what = 'digest'): Digest {
  if (!isDigest(s)) {
    throw new KilnError('INVALID_ARGUMENT', `${what}: "${String(s)}" is not a sha256 digest`, {
      hint: 'digests look like sha256:<64 hex digits>',
    });
  }
  return s;
}

/** The hex part of a digest (`sha256:abc…` → `abc…`). */
export function digestHex(d: Digest): string {
  return d.slice(d.indexOf(':') + 1);
}

/** The 12-hex short form Docker shows as IMAGE ID. */
export function shortId(d: Digest): string {
  return digestHex(d).slice(0, 12);
}

/** sha256 of bytes or a string (UTF-8), as `sha256:<hex>`. */
export function sha256Digest(data: Buffer | Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Digest of a value's canonical JSON. */
export function digestOfJson(value: unknown): Digest {
  return sha256Digest(canonicalJsonBytes(value));
}

/** A pass-through stream that hashes what flows through it; read `digest()` and `size` after it ends. */
export class DigestStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  size = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    cb(null, chunk);
  }

  private result?: Digest;
  /** Valid once the stream has ended. */
  digest(): Digest {
    this.result ??= `sha256:${this.hash.digest('hex')}`;
    return this.result;
  }
}
