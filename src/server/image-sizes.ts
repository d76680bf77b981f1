/**
 * Docker's image `Size`: the bytes of the image's layers unpacked (dockerd sums the layers' diff sizes), not the
 * compressed blobs a registry moves. kiln keeps layers compressed, so each layer's uncompressed tar size is
 * counted once by streaming it through its decompressor (gzip members of kiln's parallel compressor included)
 * and remembered by digest for the life of the server: a digest's content never changes.
 */
import { createReadStream } from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ImageRecord } from '../cache/image-store.js';
import type { ContentStore } from '../cache/types.js';
import type { Digest } from '../image/types.js';
import { createDecompressStream } from '../layers/compression.js';

export interface ImageSizer {
  /** Uncompressed bytes of the image's layers; a layer that cannot be read counts its stored size. */
  size(rec: ImageRecord, opts?: { signal?: AbortSignal }): Promise<number>;
}

export function createImageSizer(content: ContentStore): ImageSizer {
  /** Layer digest → its uncompressed size (a promise, so concurrent lists count a layer once). */
  const known = new Map<string, Promise<number>>();
  const layerSize = (digest: Digest, stored: number, signal?: AbortSignal): Promise<number> => {
    let p = known.get(digest);
    if (!p) {
      let bytes = 0;
      const count = new Writable({
        write(chunk: Buffer, _enc, cb) {
          bytes += chunk.length;
          cb();
        },
      });
      p = pipeline(createReadStream(content.blobPath(digest)), createDecompressStream('auto'), count, { signal }).then(
        () => bytes,
        () => {
          known.delete(digest); // not remembered: a later ask may succeed (a cancelled request, a blob being written)
          return stored;
        },
      );
      known.set(digest, p);
    }
    return p;
  };
  return {
    async size(rec, opts) {
      let total = 0;
      for (const l of rec.manifest.layers) total += await layerSize(l.digest, l.size, opts?.signal);
      return total;
    },
  };
}

const sizers = new WeakMap<ContentStore, ImageSizer>();

/** The one sizer of a content store, shared by the image and container endpoints (so each layer is counted once). */
export function imageSizerFor(content: ContentStore): ImageSizer {
  let s = sizers.get(content);
  if (!s) sizers.set(content, (s = createImageSizer(content)));
  return s;
}
