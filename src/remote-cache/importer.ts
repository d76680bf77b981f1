/**
 * Cache import for one build: every `--cache-from` source is loaded once (manifest and cache config: one round
 * trip each, started with the build), then answers lookups from memory. Blobs move only when needed: a hit gives
 * the step's layer descriptor, and the builder fetches the blob (`fetchInto`) only when a later miss must unpack
 * the rootfs or an output needs the layer. A source that cannot be loaded is a warning, never a failed build
 * (BuildKit does the same): the build runs without it.
 */
import type { Readable } from 'node:stream';
import type { BlobLease, ContentStore } from '../cache/types.js';
import { isKilnError } from '../errors.js';
import type { Descriptor, Digest, Platform } from '../image/types.js';
import type { RegistryClient } from '../registry/client.js';
import { copyBlob } from '../registry/copy.js';
import { cacheMountDigest, type CacheLayer } from './cache-config.js';
import type { LoadedCache } from './cache-store.js';
import { loadLocalCache } from './local-cache.js';
import { loadRegistryCache } from './registry-cache.js';
import { describeCacheSource, type CacheImport } from './spec.js';

export interface RemoteHit {
  /** Which cache answered (its name as the user gave it). */
  source: string;
  created: string;
  layer?: CacheLayer;
}

export interface CacheImporter {
  /** The result of the step with cache key `key` in the first source that has it. */
  lookup(key: Digest): Promise<RemoteHit | undefined>;
  /** The exported contents of the cache mount `id`, as a stream of its layer (compressed). */
  openCacheMount(id: string, signal?: AbortSignal): Promise<{ layer: CacheLayer; stream: Readable; source: string } | undefined>;
  /** The exported contents of the cache mount `id` as an imported cache lists them (nothing is fetched). */
  cacheMountLayer(id: string): Promise<CacheLayer | undefined>;
  /** True when some imported source holds `digest`. */
  has(digest: Digest): boolean;
  /** Opens a blob of an imported source. */
  open(desc: Descriptor, signal?: AbortSignal): Promise<Readable>;
  /** Copies a blob of an imported source into the content store (resumable, digest-checked). */
  fetchInto(content: ContentStore, desc: Descriptor, opts: { lease?: BlobLease; signal?: AbortSignal }): Promise<void>;
  /** The registry repositories the imported sources live in, per blob digest (cross-repository mount hints). */
  registryOf(digest: Digest): { registry: string; repository: string } | undefined;
  /** Names of the sources that loaded, for `--explain`. */
  names(): Promise<string[]>;
  /** Counters for tests and benchmarks. */
  readonly stats: { blobsFetched: number; bytesFetched: number };
}

export interface ImporterOptions {
  /** A registry client for a source, made on first need (the server's logins for an `operator` source). */
  client: (operator: boolean) => Promise<RegistryClient>;
  platform: Platform;
  signal?: AbortSignal;
  warn(message: string): void;
}

/** Starts loading every source at once; lookups wait for them. */
export function createCacheImporter(specs: CacheImport[], opts: ImporterOptions): CacheImporter {
  const loading = Promise.all(
    specs.map(async (spec): Promise<LoadedCache | undefined> => {
      try {
        const loaded =
          spec.type === 'registry'
            ? await loadRegistryCache(spec.ref, { client: await opts.client(spec.operator === true), platform: opts.platform, signal: opts.signal })
            : await loadLocalCache(spec.src, spec.tag, opts.platform);
        if (!loaded) opts.warn(`cache ${describeCacheSource(spec)}: no cache there yet; building without it`);
        return loaded && { ...loaded, operator: spec.operator === true };
      } catch (err) {
        if (opts.signal?.aborted) throw err;
        const why = isKilnError(err) ? `${err.message}${err.hint ? ` (${err.hint})` : ''}` : String(err);
        opts.warn(`cache ${describeCacheSource(spec)}: cannot import: ${why}; building without it`);
        return undefined;
      }
    }),
  ).then((all) => all.filter((c): c is LoadedCache => c !== undefined));
  // Never an unhandled rejection when nobody looks up (a build that hits locally everywhere).
  loading.catch(() => undefined);

  const byDigest = new Map<Digest, LoadedCache>();
  let indexed = false;
  const sources = async () => {
    const all = await loading;
    if (!indexed) {
      indexed = true;
      for (const c of all) for (const r of c.parsed.records.values()) if (r.layer && !byDigest.has(r.layer.desc.digest)) byDigest.set(r.layer.desc.digest, c);
    }
    return all;
  };
  const stats = { blobsFetched: 0, bytesFetched: 0 };
  const sourceFor = (digest: Digest): LoadedCache => {
    const c = byDigest.get(digest);
    if (!c) throw new Error(`no imported cache holds ${digest}`);
    return c;
  };

  return {
    stats,
    async lookup(key) {
      for (const c of await sources()) {
        const r = c.parsed.records.get(key);
        if (r) return { source: c.name, created: r.created, layer: r.layer };
      }
      return undefined;
    },
    async openCacheMount(id, signal) {
      const digest = cacheMountDigest(id);
      for (const c of await sources()) {
        const layer = c.parsed.records.get(digest)?.layer;
        if (!layer) continue;
        stats.blobsFetched++;
        stats.bytesFetched += layer.desc.size;
        return { layer, stream: await c.open(layer.desc, 0, signal), source: c.name };
      }
      return undefined;
    },
    async cacheMountLayer(id) {
      const digest = cacheMountDigest(id);
      for (const c of await sources()) {
        const layer = c.parsed.records.get(digest)?.layer;
        if (layer) return layer;
      }
      return undefined;
    },
    has: (digest) => byDigest.has(digest),
    async open(desc, signal) {
      await sources();
      return sourceFor(desc.digest).open(desc, 0, signal);
    },
    async fetchInto(content, desc, o) {
      await sources();
      const c = sourceFor(desc.digest);
      const remote = c.registry ? await opts.client(c.operator === true) : undefined;
      await copyBlob(
        desc,
        (offset, s) => c.open(desc, offset, s),
        () => content.writer({ lease: o.lease, signal: o.signal }),
        {
          signal: o.signal,
          maxAttempts: remote?.transport.maxAttempts ?? 1,
          backoff: remote?.transport.backoff ?? (async () => undefined),
          what: `cache ${c.name}: blob ${desc.digest}`,
        },
      );
      stats.blobsFetched++;
      stats.bytesFetched += desc.size;
    },
    registryOf: (digest) => byDigest.get(digest)?.registry,
    async names() {
      return (await sources()).map((c) => c.name);
    },
  };
}
