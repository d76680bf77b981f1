/**
 * Turns the target stage's state into outputs: the final config (labels, created, rootfs), layer blobs in the
 * requested compression (missing variants re-encoded in parallel, streamed), the image in the store (tagged),
 * and the rootfs as a tarball or directory for `--output type=tar|local`.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { canonicalJson, canonicalJsonBytes } from '../image/canonical-json.js';
import { buildManifest } from '../image/manifest.js';
import { MediaType, type Descriptor, type Digest, type ImageConfig } from '../image/types.js';
import type { BuildContext } from './build-context.js';
import { lazyView } from './rootfs.js';
import { ensureSnapshot } from './step-runner.js';
import { inlineEntries, materialize } from './cache-transfer.js';
import { INLINE_CACHE_KEY } from '../remote-cache/cache-config.js';
import type { StageState } from './state.js';
import type { OutputSpec } from './types.js';

export interface ExportedImage {
  config: ImageConfig;
  configDigest: Digest;
  manifestDigest: Digest;
  layers: Descriptor[];
  tags: string[];
  /** The manifest's descriptor, when this export wrote it (a multi-platform build's index lists it). */
  descriptor?: Descriptor;
  /**
   * One platform of several: the config and manifest are not written yet, only computed; `persist` writes them.
   * The multi-platform build calls it unless its index is already tagged (a rebuild that changed nothing then
   * writes nothing, as a single-platform one).
   */
  persist?: () => Promise<void>;
}

/** The final image config of `st`: `--label`s applied, `created` fixed, diff IDs listed. */
function finalConfig(ctx: BuildContext, st: StageState): ImageConfig {
  const image = structuredClone(st.cfg.image);
  const labels = ctx.opts.labels ?? {};
  if (Object.keys(labels).length) image.config = { ...(image.config ?? {}), Labels: { ...(image.config?.Labels ?? {}), ...labels } };
  image.rootfs = { type: 'layers', diff_ids: st.fs.layers.map((l) => l.diffId) };
  const created = ctx.sourceDateEpoch !== undefined ? ctx.created : (st.lastCreated ?? ctx.created);
  image.created = created;
  return image;
}

/** Writes the image (store and/or archives) and the rootfs outputs. */
export async function exportResult(ctx: BuildContext, st: StageState): Promise<ExportedImage> {
  const config = finalConfig(ctx, st);
  // One platform of several: only its rootfs outputs here; the image and archives hold the index (multi-platform.ts).
  const outputs: OutputSpec[] = ctx.part ? (ctx.opts.outputs ?? []) : ctx.opts.outputs?.length ? ctx.opts.outputs : [{ type: 'image' }];
  // An image or archive holds the layers: those that hit in an imported cache are fetched now (only those).
  if (ctx.part || outputs.some((o) => (o.type === 'image' && o.store !== false) || o.type === 'oci' || o.type === 'docker'))
    await materialize(ctx, st.fs.layers);
  const layers = await Promise.all(
    st.fs.layers.map(async (l) => {
      const want = l.blobs[ctx.compression];
      const have = l.blobs.gzip ?? l.blobs.zstd ?? l.blobs.none!;
      if (want || !l.recordKey) return want ?? have;
      await materialize(ctx, [l]);
      ctx.emit({ type: 'export', status: `compressing layer ${l.diffId.slice(7, 19)} (${ctx.compression})` });
      const d = await ctx.deps.layers.recompress(have, ctx.compression, { lease: ctx.lease, signal: ctx.signal });
      l.blobs[ctx.compression] = d;
      await ctx.cache.addBlob(l.recordKey, ctx.compression, d);
      return d;
    }),
  );
  const format = ctx.opts.format ?? 'oci';
  if (ctx.opts.cacheTo?.some((c) => c.type === 'inline')) {
    // BuildKit's inline cache: the cache config of the image's own steps, in its config, naming its own blobs.
    const { inlineCacheValue } = await import('../remote-cache/exporter.js');
    (config as ImageConfig & Record<string, unknown>)[INLINE_CACHE_KEY] = inlineCacheValue(await inlineEntries(ctx, st, layers));
  }
  const tags = [...new Set([...(ctx.opts.tags ?? []), ...outputs.flatMap((o) => (o.type === 'image' ? (o.names ?? []) : []))])];
  let written: { configDigest: Digest; manifestDigest: Digest } | undefined;
  for (const out of outputs) {
    ctx.signal.throwIfAborted();
    switch (out.type) {
      case 'image': {
        if (out.store === false) {
          // Pushed from here, never stored locally: its layers need not be here (push-result.ts).
          const m = await storeManifest(ctx, config, layers, format);
          written ??= m;
          const { pushBuiltImage } = await import('./push-result.js');
          await pushBuiltImage(ctx, { manifest: m.descriptor, config: m.config, layers }, tags);
          break;
        }
        ctx.emit({ type: 'export', status: 'writing image' });
        // A rebuild that changed nothing finds every tag already on this image: skip rewriting index.json
        // (a locked, fsynced write) and report the stored image.
        const same = tags.length ? await alreadyTagged(ctx, config, layers, format, tags) : undefined;
        const w = same ?? (await ctx.deps.images.writeImage({ config, layers, format, tags, lease: ctx.lease }));
        written = { configDigest: w.configDigest, manifestDigest: w.manifestDigest };
        for (const t of tags) ctx.emit({ type: 'export', status: `naming to ${t}` });
        break;
      }
      case 'oci':
      case 'docker': {
        const { writeImageArchive } = await import('./archive-output.js');
        // A docker archive needs Docker media types; an OCI one takes either.
        const m = await storeManifest(ctx, config, layers, out.type === 'docker' ? 'docker' : format);
        written ??= m;
        await writeImageArchive(ctx, { manifest: m.descriptor, tags, dest: out.dest, kind: out.type });
        break;
      }
      case 'tar':
      case 'local': {
        ctx.emit({ type: 'export', status: `exporting rootfs to ${out.dest}` });
        const view = lazyView(ctx, () => ensureSnapshot(ctx, st.fs));
        try {
          const dir = await view.dir();
          if (out.type === 'local') {
            await mkdir(out.dest, { recursive: true });
            // Never fs.cp: it opens FIFOs and device nodes of the image on the host (copy-tree.ts says why).
            const { copyTree } = await import('./copy-tree.js');
            await copyTree(dir, out.dest, {
              owners: Boolean(out.keepOwners),
              merge: true,
              signal: ctx.signal,
              onSkip: (p, why) => ctx.emit({ type: 'warning', message: `--output type=local: skipped /${relative(dir, p)}: ${why}` }),
            });
          } else {
            const { dirTar } = await import('../layers/layer-diff.js');
            const sink = out.dest === '-' ? (ctx.opts.stdout ?? process.stdout) : createWriteStream(out.dest);
            await pipeline(dirTar(dir, { sourceDateEpoch: ctx.sourceDateEpoch, signal: ctx.signal }), sink, { end: out.dest !== '-' });
          }
        } finally {
          await view.close();
        }
        break;
      }
    }
  }
  if (!written && ctx.part) {
    const m = manifestBlobs(config, layers, format);
    const persist = async () => {
      await ctx.deps.content.writeBuffer(m.configBytes, undefined, { lease: ctx.lease });
      await ctx.deps.content.writeBuffer(m.manifestBytes, undefined, { lease: ctx.lease });
    };
    return { config, layers, tags, configDigest: m.configDigest, manifestDigest: m.descriptor.digest, descriptor: m.descriptor, persist };
  }
  let descriptor: Descriptor | undefined;
  if (!written) {
    const m = await storeManifest(ctx, config, layers, format);
    written = { configDigest: m.configDigest, manifestDigest: m.manifestDigest };
    descriptor = m.descriptor;
  }
  return { config, layers, tags, configDigest: written.configDigest, manifestDigest: written.manifestDigest, ...(descriptor ? { descriptor } : {}) };
}

/** The config and manifest bytes of an image, and their digests, without writing them. */
function manifestBlobs(config: ImageConfig, layers: Descriptor[], format: 'oci' | 'docker') {
  const configBytes = canonicalJsonBytes(config);
  const configDigest: Digest = `sha256:${sha256(configBytes)}`;
  const manifest = buildManifest({ mediaType: MediaType.OciConfig, digest: configDigest, size: configBytes.length }, layers, format);
  const manifestBytes = canonicalJsonBytes(manifest);
  const descriptor: Descriptor = { mediaType: manifest.mediaType!, digest: `sha256:${sha256(manifestBytes)}`, size: manifestBytes.length };
  return { configBytes, configDigest, manifestBytes, descriptor };
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Config and manifest blobs in the store without tagging (archives and rootfs outputs still report an image ID). */
async function storeManifest(
  ctx: BuildContext,
  config: ImageConfig,
  layers: Descriptor[],
  format: 'oci' | 'docker',
): Promise<{ configDigest: Digest; manifestDigest: Digest; descriptor: Descriptor; config: Descriptor }> {
  const configBytes = canonicalJson(config);
  const c = await ctx.deps.content.writeBuffer(configBytes, undefined, { lease: ctx.lease });
  const manifest = buildManifest({ mediaType: MediaType.OciConfig, digest: c.digest, size: c.size }, layers, format);
  const m = await ctx.deps.content.writeBuffer(canonicalJson(manifest), undefined, { lease: ctx.lease });
  return {
    configDigest: c.digest,
    manifestDigest: m.digest,
    descriptor: { mediaType: manifest.mediaType!, digest: m.digest, size: m.size },
    config: manifest.config,
  };
}

/** The stored image when every tag already names an image with exactly this config, layers and format. */
async function alreadyTagged(
  ctx: BuildContext,
  config: ImageConfig,
  layers: Descriptor[],
  format: 'oci' | 'docker',
  tags: string[],
): Promise<{ configDigest: Digest; manifestDigest: Digest } | undefined> {
  const configDigest = `sha256:${createHash('sha256').update(canonicalJson(config)).digest('hex')}`;
  const wantType = format === 'docker' ? MediaType.DockerManifest : MediaType.OciManifest;
  let manifestDigest: Digest | undefined;
  for (const t of tags) {
    const img = await ctx.deps.images.find(t, { signal: ctx.signal }).catch(() => undefined);
    if (!img || img.configDigest !== configDigest || img.mediaType !== wantType || img.indexDigest) return undefined;
    if (img.manifest.layers.length !== layers.length || img.manifest.layers.some((l, i) => l.digest !== layers[i]!.digest)) return undefined;
    if (manifestDigest && manifestDigest !== img.manifestDigest) return undefined;
    manifestDigest = img.manifestDigest;
  }
  return manifestDigest ? { configDigest, manifestDigest } : undefined;
}
