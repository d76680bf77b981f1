/**
 * Cache export: the entries a build chose (every step with mode=max, the final image's with mode=min) and its
 * cache-mount contents become one cache config and its blobs, written to a registry, an OCI layout directory,
 * or (inline) into the image config itself.
 */
import type { Readable } from 'node:stream';
import type { Digest } from '../image/types.js';
import type { RegistryClient } from '../registry/client.js';
import { buildCacheConfig, encodeCacheConfig, type CacheEntry, type CacheMountEntry } from './cache-config.js';
import { writeLocalCache } from './local-cache.js';
import { writeRegistryCache } from './registry-cache.js';
import type { CacheExport } from './spec.js';
import type { Descriptor } from '../image/types.js';

export interface ExportInput {
  entries: CacheEntry[];
  mounts: CacheMountEntry[];
  /** Opens a layer blob (from the local store, or from the cache it was imported from and never downloaded). */
  open(desc: Descriptor, signal?: AbortSignal): Promise<Readable>;
}

export interface ExportOptions {
  client: (operator: boolean) => Promise<RegistryClient>;
  rootDir: string;
  signal?: AbortSignal;
  onProgress?(status: string): void;
  warn(message: string): void;
}

/** Writes one `--cache-to` (registry or local; inline is written with the image). Returns the manifest digest. */
export async function exportCache(spec: Exclude<CacheExport, { type: 'inline' }>, input: ExportInput, opts: ExportOptions): Promise<Digest> {
  const { config, layers } = buildCacheConfig(input.entries, input.mounts);
  const where = spec.type === 'registry' ? `cache ${spec.ref}` : `cache ${spec.dest}`;
  const payload = { config: encodeCacheConfig(config, where), layers, open: input.open, onProgress: opts.onProgress };
  if (spec.type === 'registry') {
    return writeRegistryCache(spec.ref, payload, {
      client: await opts.client(spec.operator === true),
      imageManifest: spec.imageManifest,
      rootDir: opts.rootDir,
      signal: opts.signal,
      onWarning: opts.warn,
    });
  }
  return writeLocalCache(spec.dest, spec.tag, payload, opts.signal);
}

/** The inline cache value for an image config (`moby.buildkit.cache.v0`): base64 of the cache config. */
export function inlineCacheValue(entries: CacheEntry[]): string {
  const { config } = buildCacheConfig(entries);
  return encodeCacheConfig(config, 'inline cache').toString('base64');
}
