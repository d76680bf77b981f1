/**
 * What the builder needs from its collaborators, as small interfaces. `createBuilder` takes implementations
 * (src/builder/wiring.ts adapts the real ones: the layer writer, the file operations, the registry's pull), so tests can
 * pass fakes the same way and the builder's logic does not depend on how the pieces are built.
 */
import type { BlobLease, ContentStore, Snapshotter } from '../cache/types.js';
import type { ImageStore, ImageRecord } from '../cache/image-store.js';
import type { Executor } from '../sandbox/types.js';
import type { Descriptor, Digest } from '../image/types.js';
import type { Compression } from '../layers/compression.js';
import type { Heredoc } from '../parser/types.js';
import type { PathMatcher } from './fileops/patterns.js';
import type { PullLayerProgress } from './types.js';

export interface WrittenLayer {
  /** The compressed blob, committed to the content store. */
  descriptor: Descriptor;
  /** Digest of the uncompressed tar. */
  diffId: Digest;
  /** Uncompressed size in bytes. */
  size: number;
  /** With `deferDurable`: resolves once the blob is stored; until then nothing may name it durably. */
  durable?: Promise<void>;
}

/** Turns a snapshot's own directory (an overlay upper dir) into a layer blob (the exporter's layer-diff + layer-writer). */
export interface LayerPort {
  /**
   * Streams the diff in `dir` (overlay whiteouts → OCI whiteouts, sorted, hardlinks kept, times clamped to
   * `sourceDateEpoch` when given) through `compression` into the content store.
   */
  writeLayer(
    dir: string,
    opts: {
      compression: Compression;
      sourceDateEpoch?: number;
      mediaFormat?: 'oci' | 'docker';
      lease?: BlobLease;
      /** Return before the blob is fsynced and published; `WrittenLayer.durable` settles when it is. */
      deferDurable?: boolean;
      signal?: AbortSignal;
    },
  ): Promise<WrittenLayer>;
  /** A plain directory (a cache mount's contents) as a layer blob: every entry as it is, sorted, no whiteouts. */
  writeTree(dir: string, opts: { compression: Compression; lease?: BlobLease; signal?: AbortSignal }): Promise<WrittenLayer>;
  /** Re-encodes a stored layer blob with another compression (same diffId). */
  recompress(blob: Descriptor, compression: Compression, opts: { lease?: BlobLease; signal?: AbortSignal }): Promise<Descriptor>;
}

/** One COPY/ADD as the file operations see it (expanded, `--from` resolved to a directory). */
export interface CopySpec {
  /** Root the sources are read from: the context directory or a mounted stage/image rootfs. */
  srcRoot: string;
  /** True when srcRoot is the build context (then `.dockerignore` applies and ADD may fetch URLs). */
  fromContext: boolean;
  /** `.dockerignore` of the context (context sources only). */
  ignore?: PathMatcher;
  sources: string[];
  heredocs: Heredoc[];
  dest: string;
  /** The stage's working directory, for a relative `dest`. */
  workdir: string;
  chown?: string;
  chmod?: string;
  link: boolean;
  parents: boolean;
  exclude: string[];
  /** ADD: unpack local archives, fetch URLs. */
  add: boolean;
  checksum?: string;
  unpack?: boolean;
  /** SOURCE_DATE_EPOCH for files that have no time of their own (heredocs, URLs). */
  sourceDateEpoch?: number;
}

/** Content checksums of a COPY's sources: one digest for the key and per-file digests to explain a miss. */
export interface SourceChecksum {
  digest: Digest;
  files: Record<string, string>;
}

/** The file operations (fileops/). */
export interface FileOpsPort {
  /** Digest of the selected sources' content and metadata (never mtime), using a stat cache for the context. */
  checksum(spec: CopySpec, opts: { signal?: AbortSignal }): Promise<SourceChecksum>;
  /**
   * Performs the copy into `destRoot` (a mounted rootfs), confined to it. With `only` (source-relative paths, as
   * `checksum` names them), copies just those entries: the rest is already in place (incremental COPY). When an
   * `only` path matches no selected entry it copies everything, so a mapping doubt never leaves a stale file.
   * `passwdRoot`: where `--chown` names are looked up when `destRoot` is not the rootfs (`--link`).
   */
  copy(spec: CopySpec, destRoot: string, opts: { signal?: AbortSignal; only?: ReadonlySet<string>; passwdRoot?: string }): Promise<void>;
}

/** The registry client, reduced to what FROM needs. */
export interface PullPort {
  /** `onStatus` gets status lines; an adapter that can also passes a layer's byte progress (throttled). */
  pull(ref: string, opts: { platform?: string; signal?: AbortSignal; onStatus?: (status: string, layer?: PullLayerProgress) => void }): Promise<ImageRecord>;
}

/** Everything a builder is made of. */
export interface BuilderDeps {
  /** The state directory (`<root>/build-cache`, `<root>/tmp`, …). */
  root: string;
  content: ContentStore;
  images: ImageStore;
  snapshotter: Snapshotter;
  executor: Executor;
  layers: LayerPort;
  fileops: FileOpsPort;
  registry?: PullPort;
  /** Directories for leases (blobs a running build creates are leased until tagged or recorded). */
  leaseDirs?: { leases: string; locks: string };
  /** Steps executed at once (RUN/COPY); default the CPU count. */
  concurrency?: number;
}
