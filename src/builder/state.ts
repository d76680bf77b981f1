/**
 * The state of a stage while it is built: its filesystem (a layer chain, its identity and maybe a snapshot),
 * its config (image config + Docker's flags) and its variable scope. Filesystem steps replace `fs`; metadata
 * steps change `cfg`; nothing here does I/O.
 */
import type { CacheRecord, LayerCompression } from '../cache/build-cache.js';
import type { Descriptor, Digest, ImageConfig } from '../image/types.js';
import type { StageScope } from '../parser/scope.js';
import { chainId } from '../graph/cache-key.js';
import type { ConfigState } from '../graph/image-config.js';

/** One layer of a chain, with every compressed variant known so far. */
export interface LayerRef {
  diffId: Digest;
  blobs: Partial<Record<LayerCompression, Descriptor>>;
  /** The cache record that produced it (a build step's layer, re-encoded on export when needed); unset for base layers. */
  recordKey?: Digest;
}

/** A rootfs: layers bottom first, their ChainID, and the committed snapshot holding it when known. */
export interface FsState {
  layers: LayerRef[];
  chainId: string;
  snapshot?: string;
  /** What produced this rootfs, for miss explanations (`FROM busybox@sha256:…`, `step 4: RUN make`). */
  desc: string;
  /** The overlay lower dirs of `snapshot`, top first, when known without asking the snapshotter. */
  lowerDirs?: string[];
}

export interface StageState {
  fs: FsState;
  /** Cache keys of the filesystem steps that made this stage, base stages' first (what mode=min cache export takes). */
  keys: string[];
  cfg: ConfigState;
  scope: StageScope;
  /** Base image config, for ONBUILD and `--from` image lookups. */
  baseConfig?: ImageConfig;
  /**
   * When the rootfs was last changed: the cache record's time of the latest step (or the base image's). Metadata
   * history and the image's `created` use it, so rebuilding from cache gives the same image ID, as BuildKit does.
   */
  lastCreated?: string;
  /**
   * `os/arch[/variant]` this stage builds for: its `FROM --platform`, a base stage's, else the build's target. Its
   * steps are keyed by it, so a `FROM --platform=$BUILDPLATFORM` stage keys alike for every target platform.
   */
  platform?: string;
}

/**
 * The fs after applying a cache record's result to `fs`. An `independent` record (`COPY --link`) may have been
 * made on another parent: its layer goes on top of this chain, and its snapshot is used only if it is this chain
 * (else the snapshot is unpacked from the layers when a later step needs it).
 */
export function applyRecord(fs: FsState, rec: CacheRecord, desc: string, independent = false): FsState {
  const layer = rec.result.layer;
  if (!layer) return { ...fs, desc: fs.desc };
  const layers = [...fs.layers, { diffId: layer.diffId, blobs: { ...layer.blobs }, recordKey: rec.key }];
  if (!independent) return { layers, chainId: rec.result.chainId, snapshot: rec.result.snapshot, desc };
  const chain = chainId(layers.map((l) => l.diffId));
  return { layers, chainId: chain, snapshot: chain === rec.result.chainId ? rec.result.snapshot : undefined, desc };
}

export function cloneStage(s: StageState): StageState {
  const image = structuredClone(s.cfg.image);
  // As with an image base: the parent stage's ONBUILD triggers run in this stage and are not inherited.
  if (image.config) image.config.OnBuild = null;
  return {
    fs: { ...s.fs, layers: s.fs.layers.map((l) => ({ ...l, blobs: { ...l.blobs } })) },
    keys: [...s.keys],
    cfg: { image, cmdSet: false },
    scope: s.scope.child(),
    baseConfig: s.cfg.image,
    lastCreated: s.lastCreated,
    ...(s.platform ? { platform: s.platform } : {}),
  };
}

/** Any stored blob of a layer (the snapshotter unpacks whichever exists). */
export function anyBlob(l: LayerRef): Descriptor {
  const d = l.blobs.gzip ?? l.blobs.zstd ?? l.blobs.none;
  if (!d) throw new Error(`layer ${l.diffId} has no blob`);
  return d;
}

/**
 * The compression of a layer media type. (layers/compression.ts has the same mapping, but importing it loads
 * the native zstd binding, which a cached rebuild never needs.)
 */
export function compressionOf(mediaType: string): LayerCompression {
  if (mediaType.endsWith('+zstd') || mediaType.endsWith('.zstd')) return 'zstd';
  if (mediaType.endsWith('+gzip') || mediaType.endsWith('.gzip')) return 'gzip';
  return 'none';
}
