/**
 * The builder's side of cache import and export (`--cache-from`, `--cache-to`; src/remote-cache/ holds the
 * format and the transports):
 *   - a step that misses the local cache asks the imported caches (remoteHit); a hit takes the step's layer
 *     descriptor only, and the layer's blob moves when a later miss unpacks that rootfs or an output needs it
 *     (materialize); once here, the record joins the local cache, so the next build hits locally;
 *   - every step result of the build is noted (noteResult) with the step it ran on, and after the build the
 *     chosen results (mode=min: the final image's steps; max: all) and the cache-mount contents are exported;
 *   - a cache mount missing here is restored from an imported cache before the first RUN that uses it.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, lstat, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { CacheRecord, LayerCompression } from '../cache/build-cache.js';
import { KilnError, isKilnError } from '../errors.js';
import type { Descriptor, Digest } from '../image/types.js';
import type { RegistryClient } from '../registry/client.js';
import type { CacheEntry, CacheLayer, CacheMountEntry } from '../remote-cache/cache-config.js';
import type { ExportInput } from '../remote-cache/exporter.js';
import { createCacheImporter } from '../remote-cache/importer.js';
import { describeCacheSource, type CacheExport } from '../remote-cache/spec.js';
import type { BuildContext } from './build-context.js';
import { compressionOf, type LayerRef, type StageState } from './state.js';
import { parsePlatform } from '../image/platform.js';

/** One step result of this build, as export needs it. */
export interface NotedResult {
  rec: CacheRecord;
  /** The key of the step it ran on (same stage lineage), if any. */
  parentKey?: Digest;
  /** The record key of the layer right below its layer, when that layer came from a build step. */
  belowKey?: Digest;
}

/**
 * Registry clients for this build's cache transfers, made once each: with the build's own credentials (a served
 * build's client's, else the caller's config files as pulls use), or for a server's default cache (`operator`)
 * with this process's config files, never the client's.
 */
export function cacheRegistryClient(ctx: BuildContext): (operator: boolean) => Promise<RegistryClient> {
  const clients = new Map<boolean, Promise<RegistryClient>>();
  return (operator) => {
    let client = clients.get(operator);
    if (!client) {
      client = (async () => {
        const [{ createRegistryClient }, { withConfigDefaults }] = await Promise.all([
          import('../registry/client.js'),
          import('../registry/client-options.js'),
        ]);
        const own = !operator && ctx.opts.registryCredentials ? { credentials: ctx.opts.registryCredentials } : {};
        const c = createRegistryClient(await withConfigDefaults(own));
        ctx.onFinish(() => c.close());
        return c;
      })();
      clients.set(operator, client);
    }
    return client;
  };
}

/** Starts loading the `--cache-from` sources (undefined without any, or with --no-cache). */
export function startImport(ctx: BuildContext): BuildContext['remote'] {
  const specs = ctx.opts.cacheFrom ?? [];
  if (specs.length === 0 || ctx.opts.noCache) return undefined;
  return createCacheImporter(specs, {
    client: ctx.registryClient,
    platform: parsePlatform(ctx.platform),
    signal: ctx.signal,
    warn: (message) => ctx.emit({ type: 'warning', message }),
  });
}

/**
 * The record an imported cache holds for `key`, as a local record without a snapshot; its blob is fetched when
 * needed. Undefined on a miss.
 */
export async function remoteHit(ctx: BuildContext, key: Digest): Promise<{ rec: CacheRecord; source: string } | undefined> {
  if (!ctx.remote) return undefined;
  const hit = await ctx.remote.lookup(key);
  if (!hit) return undefined;
  const created = hit.created || ctx.created;
  if (!hit.layer) return { rec: { key, created, inputs: { op: {}, parent: '' }, result: { chainId: '' } }, source: hit.source };
  const comp = compressionOf(hit.layer.desc.mediaType);
  const rec: CacheRecord = {
    key,
    created,
    inputs: { op: {}, parent: '' },
    result: { chainId: '', layer: { diffId: hit.layer.diffId, size: hit.layer.size, blobs: { [comp]: hit.layer.desc } } },
  };
  return { rec, source: hit.source };
}

/**
 * A remote hit is kept locally (cache.put) once its blob is here; the chain ID is known only after applying it
 * (the caller's state), so the record is completed then. Remembered per blob until materialize fetches it.
 */
export function holdRemoteRecord(ctx: BuildContext, rec: CacheRecord): void {
  const blob = rec.result.layer ? Object.values(rec.result.layer.blobs)[0] : undefined;
  if (!blob) {
    // Nothing to fetch: an empty diff is a complete record at once.
    void ctx.cache.put(rec).catch(() => undefined);
    return;
  }
  const list = ctx.pendingRemote.get(blob.digest) ?? [];
  list.push(rec);
  ctx.pendingRemote.set(blob.digest, list);
}

/** Fetches the blobs of `layers` that are not in the local store from the imported caches (in parallel). */
export async function materialize(ctx: BuildContext, layers: LayerRef[]): Promise<void> {
  if (!ctx.remote) return;
  const missing: Descriptor[] = [];
  for (const l of layers) {
    const descs = Object.values(l.blobs).filter((d): d is Descriptor => !!d);
    let here = false;
    for (const d of descs) if (await ctx.deps.content.has(d.digest)) here = true;
    if (here) continue;
    const remote = descs.find((d) => ctx.remote!.has(d.digest));
    if (remote) missing.push(remote);
  }
  await Promise.all(
    missing.map(async (desc) => {
      let p = ctx.fetching.get(desc.digest);
      if (!p) {
        p = (async () => {
          ctx.emit({ type: 'export', status: `importing cache layer ${desc.digest.slice(7, 19)} (${desc.size} bytes)` });
          await ctx.remote!.fetchInto(ctx.deps.content, desc, { lease: ctx.lease, signal: ctx.signal });
          for (const rec of ctx.pendingRemote.get(desc.digest) ?? []) await ctx.cache.put(rec).catch(() => undefined);
          ctx.pendingRemote.delete(desc.digest);
        })();
        ctx.fetching.set(desc.digest, p);
      }
      await p;
    }),
  );
}

/** Notes a step's result under every key it answers to. */
export function noteResult(ctx: BuildContext, st: StageState, keys: Digest[], rec: CacheRecord): void {
  if (!ctx.opts.cacheTo?.length) return;
  const parentKey = st.keys.at(-1);
  const belowKey = st.fs.layers.at(-1)?.recordKey;
  for (const key of keys) ctx.results.set(key, { rec: { ...rec, key }, parentKey, belowKey });
}

/** The blob of a result's layer in `compression` (re-encoded from a local blob when needed). */
async function layerIn(ctx: BuildContext, rec: CacheRecord, compression: LayerCompression | undefined): Promise<CacheLayer | undefined> {
  const layer = rec.result.layer;
  if (!layer) return undefined;
  const want = compression ?? ctx.compression;
  let desc = layer.blobs[want];
  if (!desc && compression === undefined) desc = layer.blobs.gzip ?? layer.blobs.zstd ?? layer.blobs.none;
  if (!desc) {
    const have = Object.values(layer.blobs).find((d): d is Descriptor => !!d)!;
    await materialize(ctx, [{ diffId: layer.diffId, blobs: layer.blobs }]);
    desc = await ctx.deps.layers.recompress(have, want, { lease: ctx.lease, signal: ctx.signal });
    layer.blobs[want] = desc;
    await ctx.cache.addBlob(rec.key, want, desc).catch(() => undefined);
  }
  return { desc: { mediaType: desc.mediaType, digest: desc.digest, size: desc.size }, diffId: layer.diffId, size: layer.size };
}

/** The entries to export: mode=min the keys along the final stage's lineage, mode=max every result. */
async function entriesFor(ctx: BuildContext, final: StageState, spec: CacheExport): Promise<CacheEntry[]> {
  const keys = spec.mode === 'max' ? [...ctx.results.keys()] : final.keys.filter((k) => ctx.results.has(k));
  const entries: CacheEntry[] = [];
  const layerOf = new Map<Digest, CacheLayer | undefined>();
  for (const key of keys) {
    const r = ctx.results.get(key)!;
    const layer = await layerIn(ctx, r.rec, spec.compression);
    layerOf.set(key, layer);
    entries.push({ key, created: r.rec.created, layer, parentKey: keys.includes(r.parentKey ?? '') ? r.parentKey : undefined });
  }
  for (const e of entries) {
    const below = ctx.results.get(e.key)!.belowKey;
    const bl = below !== undefined && layerOf.has(below) ? layerOf.get(below) : undefined;
    if (e.layer && bl) e.parentBlob = bl.desc.digest;
  }
  return entries;
}

/** The inline cache entries of the final image (layers named by the image's own blobs). */
export async function inlineEntries(ctx: BuildContext, final: StageState, imageLayers: Descriptor[]): Promise<CacheEntry[]> {
  const byDiffId = new Map(final.fs.layers.map((l, i) => [l.diffId, imageLayers[i]!]));
  const entries: CacheEntry[] = [];
  for (const key of final.keys) {
    const r = ctx.results.get(key);
    if (!r) continue;
    const l = r.rec.result.layer;
    const desc = l ? byDiffId.get(l.diffId) : undefined;
    if (l && !desc) continue;
    const below = r.belowKey !== undefined ? ctx.results.get(r.belowKey)?.rec.result.layer : undefined;
    entries.push({
      key,
      created: r.rec.created,
      layer: l && desc ? { desc, diffId: l.diffId, size: l.size } : undefined,
      parentKey: r.parentKey !== undefined && final.keys.includes(r.parentKey) ? r.parentKey : undefined,
      parentBlob: below ? byDiffId.get(below.diffId)?.digest : undefined,
    });
  }
  return entries;
}

/** Total size of the regular files under `dir` (stops counting past `limit`). */
async function treeSize(dir: string, limit: number): Promise<number> {
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (total > limit) return;
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) total += (await lstat(p)).size;
    }
  };
  await walk(dir);
  return total;
}

/** The cache mounts this build used, each as a layer in the content store, within the export's size budget. */
async function mountEntries(ctx: BuildContext, spec: CacheExport): Promise<CacheMountEntry[]> {
  if (!spec.cacheMounts || ctx.cacheMountsUsed.size === 0) return [];
  const out: CacheMountEntry[] = [];
  let budget = spec.cacheMountMaxBytes;
  for (const id of [...ctx.cacheMountsUsed].sort()) {
    const dir = join(ctx.cache.mountsDir, id);
    const size = await treeSize(dir, budget).catch(() => -1);
    if (size < 0) {
      // Not on this root (every step using it hit): what the imported cache had stays in the export as it was.
      const carried = await ctx.remote?.cacheMountLayer(id);
      if (carried && carried.size <= budget) {
        budget -= carried.size;
        out.push({ id, layer: carried });
      }
      continue;
    }
    if (size > budget) {
      ctx.emit({
        type: 'warning',
        message: `cache export: cache mount ${id.slice(0, 12)} holds over ${budget} bytes more than the budget allows; not exported (cache-mount-max-size=)`,
      });
      continue;
    }
    budget -= size;
    let w = ctx.mountLayers.get(`${id}\0${spec.compression ?? ctx.compression}`);
    if (!w) {
      w = await ctx.deps.layers.writeTree(dir, { compression: spec.compression ?? ctx.compression, lease: ctx.lease, signal: ctx.signal });
      ctx.mountLayers.set(`${id}\0${spec.compression ?? ctx.compression}`, w);
    }
    out.push({ id, layer: { desc: w.descriptor, diffId: w.diffId, size: w.size } });
  }
  return out;
}

/** Opens a blob for export: from the local store, else from the imported cache that holds it. */
function openForExport(ctx: BuildContext): (desc: Descriptor, signal?: AbortSignal) => Promise<Readable> {
  return async (desc, signal) => {
    if (await ctx.deps.content.has(desc.digest)) return ctx.deps.content.read(desc.digest, { signal });
    if (ctx.remote?.has(desc.digest)) return ctx.remote.open(desc, signal);
    throw new KilnError('BLOB_NOT_FOUND', `cache export: layer ${desc.digest} is neither in the local store nor in an imported cache`);
  };
}

/** What one `--cache-to` exports: the steps' records, the cache mounts, and where their blobs are read. */
export type CacheExportInput = ExportInput;

/**
 * Runs every registry/local `--cache-to`; a failure fails the build unless the export says ignore-error=true.
 * One platform of several hands its part to the multi-platform build, which writes one cache for all.
 */
export async function exportCaches(ctx: BuildContext, final: StageState): Promise<void> {
  const specs = (ctx.opts.cacheTo ?? []).filter((s): s is Exclude<CacheExport, { type: 'inline' }> => s.type !== 'inline');
  if (specs.length === 0) return;
  const inputOf = async (spec: CacheExport): Promise<ExportInput> => ({
    entries: await entriesFor(ctx, final, spec),
    mounts: await mountEntries(ctx, spec),
    open: openForExport(ctx),
  });
  const share = ctx.part?.shareCache;
  if (share) {
    const mine = await Promise.all(specs.map(inputOf));
    await share(mine, (merged) => writeCaches(ctx, specs, (i) => Promise.resolve(merged[i]!)));
    return;
  }
  await writeCaches(ctx, specs, (i) => inputOf(specs[i]!));
}

async function writeCaches(
  ctx: BuildContext,
  specs: Array<Exclude<CacheExport, { type: 'inline' }>>,
  inputOf: (i: number) => Promise<ExportInput>,
): Promise<void> {
  for (const [i, spec] of specs.entries()) {
    const name = describeCacheSource(spec);
    ctx.emit({ type: 'export', status: `exporting cache to ${name} (mode=${spec.mode})` });
    try {
      const input = await inputOf(i);
      const { exportCache } = await import('../remote-cache/exporter.js');
      const digest = await exportCache(spec, input, {
        client: ctx.registryClient,
        rootDir: ctx.deps.root,
        signal: ctx.signal,
        onProgress: (status) => ctx.emit({ type: 'export', status }),
        warn: (message) => ctx.emit({ type: 'warning', message }),
      });
      ctx.emit({ type: 'export', status: `cache ${name}: ${input.entries.length} steps, ${input.mounts.length} cache mounts, manifest ${digest}` });
    } catch (err) {
      if (ctx.signal.aborted && !isKilnError(err)) throw err;
      if (!spec.ignoreError) {
        if (isKilnError(err))
          throw new KilnError(err.code, `exporting cache to ${name}: ${err.message}`, {
            hint: err.hint ?? 'add ignore-error=true to --cache-to to let the build pass without it',
            cause: err,
          });
        throw err;
      }
      ctx.emit({ type: 'warning', message: `exporting cache to ${name} failed (ignore-error=true): ${isKilnError(err) ? err.message : String(err)}` });
    }
  }
}

/**
 * Before a RUN uses cache mount `id` for the first time on this root: its exported contents, when an imported
 * cache has them, unpacked beside the directory and renamed into place (a concurrent user never sees half).
 */
export async function restoreCacheMount(ctx: BuildContext, id: string, dir: string): Promise<void> {
  if (!ctx.remote) return;
  const exists = await lstat(dir).then(
    () => true,
    () => false,
  );
  if (exists) return;
  const found = await ctx.remote.openCacheMount(id, ctx.signal);
  if (!found) return;
  const tmp = `${dir}.import-${randomBytes(4).toString('hex')}`;
  await mkdir(tmp, { recursive: true });
  try {
    const { applyLayer } = await import('../cache/apply-layer.js');
    await applyLayer(found.stream, tmp, { whiteouts: 'delete', diffId: found.layer.diffId, source: `cache mount from ${found.source}`, signal: ctx.signal });
    await rename(tmp, dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST' && err.code !== 'ENOTEMPTY') throw err;
    });
    ctx.emit({ type: 'export', status: `restored cache mount ${id.slice(0, 12)} from ${found.source}` });
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    ctx.emit({
      type: 'warning',
      message: `cache mount ${id.slice(0, 12)}: cannot restore from ${found.source}: ${isKilnError(err) ? err.message : String(err)}`,
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
