/**
 * A cache in a registry repository, BuildKit's `type=registry`: an OCI image manifest whose config is the cache
 * config (`image-manifest=true`, the default), or an OCI index listing the layers and the cache config
 * (`image-manifest=false`, BuildKit's older layout, which registries that refuse unknown config media types
 * accept). Reading also takes a plain image (or an index of images): its config's inline cache
 * (`moby.buildkit.cache.v0`) is the cache, its layers the blobs.
 *
 * An export uploads every blob first (HEAD first, a cross-repository mount when a sibling repository is known to
 * hold it, else an upload), in parallel, and PUTs the manifest under the tag last: a failure leaves the tag on the
 * previous cache, which is still whole.
 */
import { Readable } from 'node:stream';
import { KilnError, isKilnError } from '../errors.js';
import { canonicalJson } from '../image/canonical-json.js';
import { selectManifest } from '../image/platform.js';
import { MediaType, type Descriptor, type Digest, type ImageConfig, type Index, type Manifest, type Platform } from '../image/types.js';
import { createHash } from 'node:crypto';
import { createBlobSources } from '../registry/blob-sources.js';
import { where, type RegistryClient } from '../registry/client.js';
import { skipBytes } from '../registry/copy.js';
import { pushBlob } from '../registry/push-blob.js';
import { forEachLimited } from '../registry/pool.js';
import { toRegistryRef } from '../registry/pull.js';
import { ANNOTATION_UNCOMPRESSED, CACHE_CONFIG_MEDIA_TYPE, INLINE_CACHE_KEY, MAX_CACHE_CONFIG_BYTES, parseCacheConfig } from './cache-config.js';
import { parseJson, readSmallBlob, type CachePayload, type LoadedCache } from './cache-store.js';

/** Largest image config read for inline cache. */
const MAX_IMAGE_CONFIG_BYTES = 8 * 1024 * 1024;

export interface RegistryCacheOptions {
  client: RegistryClient;
  /** The build's platform: picks the image of an index carrying inline cache. */
  platform: Platform;
  signal?: AbortSignal;
}

function digestOf(body: Buffer): Digest {
  return `sha256:${createHash('sha256').update(body).digest('hex')}`;
}

/**
 * Loads the cache at `refText`; undefined when the reference does not exist yet (a first export). Throws for an
 * image without inline cache (CACHE_INVALID, with a hint), a cache that exists but is broken, a failing registry.
 */
export async function loadRegistryCache(refText: string, opts: RegistryCacheOptions): Promise<LoadedCache | undefined> {
  const rref = toRegistryRef(refText);
  const w = `cache ${refText}`;
  const fetcher = opts.client.fetcher(rref);
  let requests = 0;
  const fetchSmall = async (desc: Descriptor, limit: number, what: string): Promise<Buffer> => {
    requests++;
    return readSmallBlob(await fetcher.fetch(desc, { signal: opts.signal }), desc, limit, what);
  };
  let top: { descriptor: Descriptor; body: Buffer };
  try {
    requests++;
    top = await opts.client.resolve(rref, { signal: opts.signal });
  } catch (err) {
    if (isKilnError(err) && err.code === 'REGISTRY_NOT_FOUND') return undefined;
    throw err;
  }
  if (top.body.length > MAX_CACHE_CONFIG_BYTES) throw new KilnError('CACHE_TOO_LARGE', `${w}: the manifest is over 1 MiB; refused`);
  let doc = parseJson(top.body, `${w}: manifest`) as Partial<Manifest & Index>;
  const open = (desc: Descriptor, offset: number, signal?: AbortSignal): Promise<Readable> => fetcher.fetch(desc, { offset, signal });
  const loaded = (configBody: Buffer, blobs: Descriptor[]): LoadedCache => ({
    name: refText,
    parsed: parseCacheConfig(parseJson(configBody, `${w}: cache config`), blobs, w),
    open,
    registry: { registry: rref.registry, repository: rref.repository },
    requests,
  });
  if (Array.isArray(doc.manifests)) {
    const configDesc = doc.manifests.find((d) => d.mediaType === CACHE_CONFIG_MEDIA_TYPE);
    if (configDesc) {
      const blobs = doc.manifests.filter((d) => d !== configDesc);
      return loaded(await fetchSmall(configDesc, MAX_CACHE_CONFIG_BYTES, `${w}: cache config`), blobs);
    }
    // An index of images: the build's platform's image may carry inline cache.
    const child = selectManifest(doc.manifests, opts.platform);
    if (!child) throw new KilnError('CACHE_INVALID', `${w}: an image index without a manifest for ${opts.platform.os}/${opts.platform.architecture}`);
    requests++;
    const body = (await opts.client.resolve({ ...rref, tag: undefined, digest: child.digest }, { signal: opts.signal })).body;
    doc = parseJson(body, `${w}: manifest ${child.digest}`) as Partial<Manifest>;
  }
  if (!doc.config || !Array.isArray(doc.layers)) throw new KilnError('CACHE_INVALID', `${w}: neither a cache manifest nor an image`);
  if (doc.config.mediaType === CACHE_CONFIG_MEDIA_TYPE) return loaded(await fetchSmall(doc.config, MAX_CACHE_CONFIG_BYTES, `${w}: cache config`), doc.layers);
  // A plain image: its inline cache, with the image's layers as the blobs.
  const config = parseJson(await fetchSmall(doc.config, MAX_IMAGE_CONFIG_BYTES, `${w}: image config`), `${w}: image config`) as ImageConfig &
    Record<string, unknown>;
  const inline = config[INLINE_CACHE_KEY];
  if (typeof inline !== 'string')
    throw new KilnError('CACHE_INVALID', `${w}: an image without inline cache`, {
      hint: 'build it with --cache-to type=inline, or export a cache with --cache-to type=registry',
    });
  const diffIds = config.rootfs?.diff_ids ?? [];
  const blobs = doc.layers.map((d, i) => ({ ...d, annotations: { ...d.annotations, ...(diffIds[i] ? { [ANNOTATION_UNCOMPRESSED]: diffIds[i]! } : {}) } }));
  return loaded(Buffer.from(inline, 'base64'), blobs);
}

export interface RegistryExportOptions {
  client: RegistryClient;
  /** `image-manifest=true`: an image manifest; false: an index. A registry refusing the manifest gets the index. */
  imageManifest: boolean;
  /** State root, for the blob-sources hint (cross-repository mounts, recorded after a push). */
  rootDir: string;
  signal?: AbortSignal;
  onWarning?(message: string): void;
}

/** Uploads the cache to `refText`; the tag moves only after every blob is there. Returns the manifest's digest. */
export async function writeRegistryCache(refText: string, payload: CachePayload, opts: RegistryExportOptions): Promise<Digest> {
  const rref = toRegistryRef(refText);
  const pusher = opts.client.pusher(rref);
  const sources = createBlobSources(opts.rootDir);
  const t = opts.client.transport;
  const configDesc: Descriptor = { mediaType: CACHE_CONFIG_MEDIA_TYPE, digest: digestOf(payload.config), size: payload.config.length };
  const blobs = [...payload.layers, configDesc];
  let done = 0;
  await forEachLimited(
    blobs,
    opts.client.opts.concurrency ?? 4,
    async (desc, signal) => {
      const mountFrom = await sources.repositories(rref.registry, desc.digest);
      const open = async (offset: number): Promise<Readable> =>
        skipBytes(desc === configDesc ? Readable.from([payload.config]) : await payload.open(desc, signal), offset);
      await pushBlob(pusher, t, desc, open, { signal, mountFrom, what: `${where(rref)}: cache blob ${desc.digest}` });
      done++;
      payload.onProgress?.(`cache ${refText}: ${done}/${blobs.length} blobs`);
    },
    opts.signal,
  );
  const manifest: Manifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config: configDesc, layers: payload.layers };
  const index: Index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: blobs };
  const put = async (doc: Manifest | Index): Promise<Digest> => {
    const body = Buffer.from(canonicalJson(doc));
    if (body.length > MAX_CACHE_CONFIG_BYTES)
      throw new KilnError('CACHE_TOO_LARGE', `cache ${refText}: the manifest is over 1 MiB`, { hint: 'export with mode=min' });
    const desc: Descriptor = { mediaType: doc.mediaType!, digest: digestOf(body), size: body.length };
    return pusher.putManifest(desc, body, rref.tag ?? 'latest', { signal: opts.signal });
  };
  let digest: Digest;
  if (!opts.imageManifest) digest = await put(index);
  else {
    try {
      digest = await put(manifest);
    } catch (err) {
      // A registry that accepts only image configs (MANIFEST_INVALID, 400/415) takes BuildKit's index layout.
      const status = isKilnError(err) ? (err.details?.status as number | undefined) : undefined;
      if (!(isKilnError(err) && err.code === 'REGISTRY_PROTOCOL' && (status === 400 || status === 415))) throw err;
      opts.onWarning?.(
        `cache ${refText}: the registry refused a manifest with the cache config (${err.message}); wrote an image index instead (image-manifest=false)`,
      );
      digest = await put(index);
    }
  }
  await sources
    .record(
      rref.registry,
      rref.repository,
      blobs.map((b) => b.digest),
    )
    .catch(() => undefined);
  return digest;
}
