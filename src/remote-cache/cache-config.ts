/**
 * BuildKit's cache format (`application/vnd.buildkit.cacheconfig.v0`), written and read by kiln. The config
 * lists layer blobs (`layers`, each with its `parent` layer index, -1 for none) and records (`records`: a
 * step's cache key in `digest`, its result as a layer index in `layers` or a layer chain in `chains`, and the
 * record it ran on in `inputs`). Everything is sorted, so the same cache gives the same bytes.
 *
 * kiln puts its own keys in `digest` (src/graph/keys.ts): a key already names the rootfs a step ran on by its
 * ChainID, so a lookup is one map access and `inputs` is informative. Two kiln conventions ride in the format:
 *   - a step whose diff was empty has no layer: its record carries one empty chain (`chains: [{layers: []}]`);
 *   - the contents of a `RUN --mount=type=cache` directory are a record whose digest is cacheMountDigest(id).
 * BuildKit also lists the base image's layers in every chain; kiln leaves them out (FROM resolves the base on
 * its own), so a chain starts at the first layer a build step made.
 */
import { createHash } from 'node:crypto';
import { KilnError } from '../errors.js';
import { canonicalJson } from '../image/canonical-json.js';
import type { Descriptor, Digest } from '../image/types.js';

export const CACHE_CONFIG_MEDIA_TYPE = 'application/vnd.buildkit.cacheconfig.v0';
/** The image-config key of inline cache (BuildKit's). */
export const INLINE_CACHE_KEY = 'moby.buildkit.cache.v0';
/** BuildKit refuses a cache config or manifest over this size on import; kiln enforces it on both sides. */
export const MAX_CACHE_CONFIG_BYTES = 1024 * 1024;
/** Manifest layer annotations, as BuildKit writes them. */
export const ANNOTATION_UNCOMPRESSED = 'containerd.io/uncompressed';
export const ANNOTATION_CREATED = 'buildkit/createdat';

/** The JSON shapes, as BuildKit's cache/remotecache/v1 spec defines them. */
export interface CacheConfigJson {
  layers?: Array<{ blob: Digest; parent?: number; annotations?: LayerAnnotationsJson }>;
  records?: Array<{
    digest: Digest;
    layers?: Array<{ layer: number; createdAt?: string }>;
    chains?: Array<{ layers: number[]; createdAt?: string }>;
    inputs?: Array<Array<{ selector?: string; link: number }>>;
  }>;
}

interface LayerAnnotationsJson {
  mediaType?: string;
  diffID?: Digest;
  /** The blob's size. */
  size?: number;
  createdAt?: string;
  /** kiln's addition: the uncompressed tar's size (Go readers ignore unknown fields). */
  uncompressedSize?: number;
}

/** A layer as the cache knows it: the blob's descriptor plus what a step result needs. */
export interface CacheLayer {
  desc: Descriptor;
  diffId: Digest;
  /** Uncompressed size. */
  size: number;
}

/** One exported step result (kiln's side of a record). */
export interface CacheEntry {
  key: Digest;
  created: string;
  /** Undefined when the step's diff was empty. */
  layer?: CacheLayer;
  /** The blob digest of the layer right below this entry's layer in its chain, when that layer is exported too. */
  parentBlob?: Digest;
  /** The key of the step this one ran on, when exported too (becomes `inputs`). */
  parentKey?: Digest;
}

/** The contents of one cache mount (by its id as the builder names its directory). */
export interface CacheMountEntry {
  id: string;
  layer: CacheLayer;
  created: string;
}

/** What an imported cache answers: a key's result (cache mounts are records too, see cacheMountDigest). */
export interface ParsedCache {
  records: Map<Digest, { created: string; layer?: CacheLayer }>;
}

/** The record digest that holds a cache mount's contents (never collides with a step key: different preimage). */
export function cacheMountDigest(id: string): Digest {
  return `sha256:${createHash('sha256')
    .update(canonicalJson({ v: 1, 'kiln.cache-mount': id }))
    .digest('hex')}`;
}

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

/** Builds the config and the layer descriptors (sorted by digest) for a set of entries. */
export function buildCacheConfig(entries: CacheEntry[], mounts: CacheMountEntry[] = []): { config: CacheConfigJson; layers: Descriptor[] } {
  const layerInfo = new Map<Digest, { layer: CacheLayer; parentBlob?: Digest; created: string }>();
  for (const e of entries)
    if (e.layer && !layerInfo.has(e.layer.desc.digest)) layerInfo.set(e.layer.desc.digest, { layer: e.layer, parentBlob: e.parentBlob, created: e.created });
  for (const m of mounts) if (!layerInfo.has(m.layer.desc.digest)) layerInfo.set(m.layer.desc.digest, { layer: m.layer, created: m.created });
  const blobs = [...layerInfo.keys()].sort();
  const layerIndex = new Map(blobs.map((b, i) => [b, i]));
  const layers: CacheConfigJson['layers'] = blobs.map((b) => {
    const { layer, parentBlob, created } = layerInfo.get(b)!;
    const parent = parentBlob !== undefined ? layerIndex.get(parentBlob) : undefined;
    return {
      blob: b,
      parent: parent ?? -1,
      annotations: { mediaType: layer.desc.mediaType, diffID: layer.diffId, size: layer.desc.size, createdAt: created, uncompressedSize: layer.size },
    };
  });
  const all = [
    ...entries.map((e) => ({ digest: e.key, entry: e as CacheEntry | undefined, mount: undefined as CacheMountEntry | undefined })),
    ...mounts.map((m) => ({ digest: cacheMountDigest(m.id), entry: undefined, mount: m })),
  ];
  const unique = [...new Map(all.map((r) => [r.digest, r])).values()].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  const recordIndex = new Map(unique.map((r, i) => [r.digest, i]));
  const records: CacheConfigJson['records'] = unique.map(({ digest, entry, mount }) => {
    if (mount) return { digest, layers: [{ layer: layerIndex.get(mount.layer.desc.digest)!, createdAt: mount.created }] };
    const e = entry!;
    const rec: NonNullable<CacheConfigJson['records']>[number] = { digest };
    if (e.layer) rec.layers = [{ layer: layerIndex.get(e.layer.desc.digest)!, createdAt: e.created }];
    else rec.chains = [{ layers: [], createdAt: e.created }];
    const link = e.parentKey !== undefined ? recordIndex.get(e.parentKey) : undefined;
    if (link !== undefined) rec.inputs = [[{ selector: '', link }]];
    return rec;
  });
  const descs = blobs.map((b) => {
    const { layer, created } = layerInfo.get(b)!;
    return { ...layer.desc, annotations: { ...layer.desc.annotations, [ANNOTATION_UNCOMPRESSED]: layer.diffId, [ANNOTATION_CREATED]: created } };
  });
  return { config: { layers, records }, layers: descs };
}

/** The config as the bytes that are stored (canonical JSON); CACHE_TOO_LARGE past BuildKit's import limit. */
export function encodeCacheConfig(config: CacheConfigJson, where: string): Buffer {
  const bytes = Buffer.from(canonicalJson(config));
  if (bytes.length > MAX_CACHE_CONFIG_BYTES)
    throw new KilnError('CACHE_TOO_LARGE', `${where}: the cache config is ${bytes.length} bytes, over the 1 MiB BuildKit accepts`, {
      hint: 'export with mode=min, or split the build into smaller images',
    });
  return bytes;
}

function bad(where: string, what: string): KilnError {
  return new KilnError('CACHE_INVALID', `${where}: invalid cache config: ${what}`);
}

/**
 * Parses a cache config against the blobs that come with it (`blobs`: the cache manifest's layers, or an image's
 * layers for inline cache). Strict about structure: a malformed cache is refused as a whole (CACHE_INVALID), a
 * record naming a blob that is not there is dropped (BuildKit does the same).
 */
export function parseCacheConfig(raw: unknown, blobs: Descriptor[], where: string): ParsedCache {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw bad(where, 'not an object');
  const cfg = raw as CacheConfigJson;
  const layersJson = cfg.layers ?? [];
  const recordsJson = cfg.records ?? [];
  if (!Array.isArray(layersJson) || !Array.isArray(recordsJson)) throw bad(where, '"layers" and "records" must be arrays');
  const byDigest = new Map(blobs.map((d) => [d.digest, d]));
  const layers: Array<CacheLayer | undefined> = layersJson.map((l, i) => {
    if (!l || typeof l !== 'object' || typeof l.blob !== 'string' || !DIGEST_RE.test(l.blob)) throw bad(where, `layer ${i} has no valid blob digest`);
    if (l.parent !== undefined && (!Number.isInteger(l.parent) || l.parent < -1 || l.parent >= layersJson.length || l.parent === i))
      throw bad(where, `layer ${i} has an invalid parent`);
    const a = l.annotations ?? {};
    const desc = byDigest.get(l.blob);
    const diffId = a.diffID ?? desc?.annotations?.[ANNOTATION_UNCOMPRESSED];
    if (!desc || !diffId || !DIGEST_RE.test(diffId)) return undefined;
    return {
      desc: { mediaType: desc.mediaType, digest: desc.digest, size: desc.size },
      diffId,
      size: Number.isSafeInteger(a.uncompressedSize) ? a.uncompressedSize! : desc.size,
    };
  });
  const out: ParsedCache = { records: new Map() };
  for (const [i, r] of recordsJson.entries()) {
    if (!r || typeof r !== 'object' || typeof r.digest !== 'string' || !DIGEST_RE.test(r.digest)) throw bad(where, `record ${i} has no valid digest`);
    const results = r.layers ?? [];
    const chains = r.chains ?? [];
    if (!Array.isArray(results) || !Array.isArray(chains)) throw bad(where, `record ${i}: "layers" and "chains" must be arrays`);
    for (const res of results) {
      if (!res || !Number.isInteger(res.layer) || res.layer < 0 || res.layer >= layers.length)
        throw bad(where, `record ${i} names layer ${String(res?.layer)}`);
    }
    const first = results[0];
    if (first) {
      const layer = layers[first.layer];
      if (!layer) continue;
      out.records.set(r.digest, { created: typeof first.createdAt === 'string' ? first.createdAt : '', layer });
    } else if (chains.some((c) => Array.isArray(c?.layers) && c.layers.length === 0)) {
      const c = chains.find((x) => x.layers.length === 0)!;
      out.records.set(r.digest, { created: typeof c.createdAt === 'string' ? c.createdAt : '' });
    }
  }
  return out;
}

/** Looks up a cache mount's contents in a parsed cache. */
export function cacheMountLayer(cache: ParsedCache, id: string): CacheLayer | undefined {
  const r = cache.records.get(cacheMountDigest(id));
  return r?.layer;
}
