/**
 * `pushImage`: an image of the local store to a registry. If the registry already has the manifest (HEAD by
 * digest), only the tag is written: a second push costs manifest round trips alone. Otherwise every blob is
 * HEADed and skipped when present, mounted from a sibling repository when the blob-sources hint knows one, or
 * uploaded through the same copy routine a pull uses; manifests go last (children of an index before it), each
 * with its own media type. Used by `kiln push`, `kiln build --push` and the server.
 */
import { createReadStream } from 'node:fs';
import type { StoreRoot } from '../cache/root.js';
import { KilnError } from '../errors.js';
import { checkManifest } from '../image/manifest.js';
import { formatReference, parseReference } from '../image/reference.js';
import { type Descriptor, type Index } from '../image/types.js';
import { createBlobSources } from './blob-sources.js';
import { createRegistryClient, where, type RegistryClient } from './client.js';
import { withConfigDefaults } from './client-options.js';
import { pushBlob } from './push-blob.js';
import { forEachLimited } from './pool.js';
import { toRegistryRef } from './pull.js';
import type { ProgressFn, PushResult, RegistryClientOptions } from './types.js';

export interface PushOptions extends RegistryClientOptions {
  /** The local image to push when it is not tagged as `ref` (a name or ID). Default: `ref` itself. */
  source?: string;
  signal?: AbortSignal;
  onProgress?: ProgressFn;
  /** Reuse a client; otherwise one is made from these options and closed after. */
  client?: RegistryClient;
}

/**
 * Pushes the local image `opts.source ?? ref` to `ref`. Throws IMAGE_NOT_FOUND for an unknown local image,
 * REGISTRY_* naming registry and repository, DIGEST_MISMATCH when the registry stores something else.
 */
export async function pushImage(root: StoreRoot, ref: string, opts: PushOptions = {}): Promise<PushResult> {
  const parsed = parseReference(ref);
  const full = formatReference(parsed);
  const rref = toRegistryRef(ref);
  const emit = opts.onProgress ?? (() => {});
  const record = await root.images.resolve(opts.source ?? ref, { signal: opts.signal });
  // What the tag points at: the index when there is one and all its children are here, else the manifest.
  let top: Descriptor = record.descriptor;
  const manifests: Descriptor[] = [record.descriptor];
  if (record.indexDigest) {
    const index = await root.content.readJson<Index>(record.indexDigest);
    const present = await Promise.all(index.manifests.map((d) => root.content.has(d.digest)));
    if (present.every(Boolean)) {
      const info = await root.content.info(record.indexDigest);
      top = { mediaType: index.mediaType ?? 'application/vnd.oci.image.index.v1+json', digest: record.indexDigest, size: info!.size };
      manifests.splice(0, 1, ...index.manifests);
    }
  }
  if (parsed.digest && parsed.digest !== top.digest) {
    throw new KilnError('DIGEST_MISMATCH', `${where(rref)}: the reference pins ${parsed.digest} but the local image is ${top.digest}`);
  }
  const client = opts.client ?? createRegistryClient(await withConfigDefaults(opts));
  const pusher = client.pusher(rref);
  const sources = createBlobSources(root.root);
  const t = client.transport;
  const result: PushResult = { ref: full, digest: top.digest, size: top.size, uploaded: 0, skipped: 0, mounted: 0, bytes: 0 };
  if (parsed.tag !== undefined) result.tag = parsed.tag;
  const allDigests = new Set<string>([top.digest]);
  try {
    if (!(await pusher.hasManifest(top.digest, { signal: opts.signal }))) {
      for (const man of manifests) {
        const m = checkManifest(await root.content.readJson(man.digest), `manifest ${man.digest}`);
        const blobs = [{ desc: m.config, kind: 'config' as const }, ...m.layers.map((desc) => ({ desc, kind: 'layer' as const }))].filter(
          ({ desc }) => !allDigests.has(desc.digest) && allDigests.add(desc.digest),
        );
        await forEachLimited(
          blobs,
          opts.concurrency ?? 3,
          async ({ desc, kind }, signal) => {
            const ev = { type: 'blob' as const, digest: desc.digest, size: desc.size, kind };
            if (!(await root.content.has(desc.digest))) {
              throw new KilnError('BLOB_NOT_FOUND', `cannot push ${full}: blob ${desc.digest} is missing from the local store`, {
                hint: 'the image is incomplete locally; pull or rebuild it',
              });
            }
            const path = root.content.blobPath(desc.digest);
            const pushed = await pushBlob(pusher, t, desc, async (offset) => createReadStream(path, { start: offset, highWaterMark: 1 << 20 }), {
              signal,
              mountFrom: await sources.repositories(rref.registry, desc.digest),
              what: `${where(rref)}: blob ${desc.digest}`,
              onUpload: () => emit({ ...ev, status: 'uploading', current: 0 }),
              onProgress: (current) => emit({ ...ev, status: 'uploading', current }),
              onRetry: (err) => emit({ ...ev, status: 'retrying', current: 0, message: (err as Error).message }),
            });
            if (pushed.status === 'uploaded') {
              result.uploaded++;
              result.bytes += desc.size;
              emit({ ...ev, status: 'done', current: desc.size });
              return;
            }
            if (pushed.status === 'mounted') result.mounted++;
            else result.skipped++;
            emit({
              ...ev,
              status: pushed.status === 'mounted' ? 'mounted' : 'exists',
              current: desc.size,
              ...(pushed.status === 'mounted' ? { message: `from ${pushed.from}` } : {}),
            });
          },
          opts.signal,
        );
        if (man.digest !== top.digest) await pusher.putManifest(man, await root.content.readBuffer(man.digest), man.digest, { signal: opts.signal });
        allDigests.add(man.digest);
      }
    }
    const body = await root.content.readBuffer(top.digest);
    await pusher.putManifest(top, body, parsed.tag ?? parsed.digest ?? top.digest, { signal: opts.signal });
    emit({ type: 'blob', digest: top.digest, size: top.size, kind: 'manifest', status: 'done', current: top.size });
    await sources.record(rref.registry, rref.repository, [...allDigests]);
    emit({ type: 'done', ref: full, digest: top.digest, size: top.size, ...(parsed.tag !== undefined ? { tag: parsed.tag } : {}) });
    return result;
  } finally {
    if (!opts.client) client.close();
  }
}
