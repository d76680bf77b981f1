/**
 * Writes a layer tar stream into the content store as a compressed blob, in one streaming pass: the
 * uncompressed bytes are hashed (the diff ID the image config lists) on their way into the compressor, whose
 * output the content writer hashes and stores (the blob digest the manifest lists). Nothing is buffered.
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobLease, ContentStore } from '../cache/types.js';
import { DigestStream } from '../image/digest.js';
import type { Descriptor, Digest } from '../image/types.js';
import { createCompressStream, layerMediaType, type Compression } from '../layers/compression.js';

export interface WriteLayerOptions {
  /** Default gzip, as Docker and BuildKit. */
  compression?: Compression;
  /** Media type family for the descriptor (default oci). */
  format?: 'oci' | 'docker';
  /** Compression level override (gzip 1–9, zstd 1–19). */
  level?: number;
  /** Keeps the new blob from a concurrent prune until the image that uses it is tagged. */
  lease?: BlobLease;
  /**
   * Return once the digests are known, leaving the blob's fsync and publish to `WrittenLayer.durable` (a build
   * step: the next step need not wait for the disk; the cache record waits for `durable`).
   */
  deferDurable?: boolean;
  signal?: AbortSignal;
}

export interface WrittenLayer {
  /** The compressed blob, as a manifest lists it. */
  descriptor: Descriptor;
  /** sha256 of the uncompressed tar, as the image config's rootfs.diff_ids lists it. */
  diffId: Digest;
  /** Bytes of the uncompressed tar. */
  uncompressedSize: number;
  /** With `deferDurable`: resolves when the blob is stored (rejects, leaving nothing, when it cannot be). */
  durable?: Promise<void>;
}

/**
 * Stores `tar` (an uncompressed layer tar stream) compressed with `compression`. On any failure, including
 * an aborted `signal`, the partial blob is removed and nothing becomes visible.
 */
export async function writeLayer(content: ContentStore, tar: Readable, opts: WriteLayerOptions = {}): Promise<WrittenLayer> {
  const compression = opts.compression ?? 'gzip';
  // The signal goes to the pipeline only: on abort, our own awaited `abort()` below removes the temp file.
  const writer = await content.writer({ lease: opts.lease });
  const plain = new DigestStream();
  try {
    if (compression === 'none') await pipeline(tar, plain, writer.stream, { signal: opts.signal });
    else await pipeline(tar, plain, createCompressStream(compression, { level: opts.level }), writer.stream, { signal: opts.signal });
    let blob;
    let durable: Promise<void> | undefined;
    if (opts.deferDurable && writer.seal) ({ info: blob, durable } = await writer.seal());
    else blob = await writer.commit();
    return {
      descriptor: { mediaType: layerMediaType(compression, opts.format), digest: blob.digest, size: blob.size },
      diffId: plain.digest(),
      uncompressedSize: plain.size,
      ...(durable ? { durable } : {}),
    };
  } catch (err) {
    await writer.abort();
    tar.destroy();
    throw err;
  }
}
