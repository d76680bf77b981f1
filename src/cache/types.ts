/**
 * Boundary types of src/cache/: the content store (blobs by digest) and the snapshotter (unpacked layers for
 * overlayfs). Implementations live beside this file; other folders import only these types and the factories.
 */
import type { Readable, Writable } from 'node:stream';
import type { Descriptor, Digest } from '../image/types.js';

export interface IoOptions {
  signal?: AbortSignal;
}

/**
 * Something that keeps blobs alive across a garbage collection (a build's lease, src/cache/lease.ts). The content
 * store calls `add` with a blob's digest before the blob becomes visible, so a concurrent prune never sees it
 * unprotected.
 */
export interface BlobLease {
  add(...digests: Digest[]): Promise<void>;
}

/** Options for writes into the content store. */
export interface WriteOptions extends IoOptions {
  lease?: BlobLease;
}

export interface BlobInfo {
  digest: Digest;
  size: number;
}

/**
 * A blob being written. Bytes go into `stream` (hashed as they stream); nothing is visible until `commit()`
 * verifies size and digest, fsyncs and renames into place. Committing a blob that already exists succeeds.
 * `abort()` removes the temporary file; it is safe to call after commit or twice.
 */
export interface ContentWriter {
  readonly stream: Writable;
  /** Bytes written so far. */
  readonly written: number;
  /** Verifies against `expected` when given (DIGEST_MISMATCH / SIZE_MISMATCH), then publishes the blob. */
  commit(expected?: Partial<BlobInfo>): Promise<BlobInfo>;
  /**
   * `commit` in two halves: verifies and returns the digest as soon as the bytes are hashed, while the fsync and
   * the publish run on; `durable` resolves when the blob is in the store (data and directory entry on disk) and
   * rejects, with the temp file removed, when that fails. Nothing may name the blob durably before `durable`.
   */
  seal?(expected?: Partial<BlobInfo>): Promise<{ info: BlobInfo; durable: Promise<void> }>;
  abort(): Promise<void>;
}

/** Content-addressed blob storage (sha256). Safe for several processes on one root. */
export interface ContentStore {
  /** Absolute path of a committed blob's file (for tools that want a path, e.g. tar -x). */
  blobPath(digest: Digest): string;
  has(digest: Digest): Promise<boolean>;
  /** Size and digest, or undefined when absent. */
  info(digest: Digest): Promise<BlobInfo | undefined>;
  /** A stream of the blob; throws BLOB_NOT_FOUND. */
  read(digest: Digest, opts?: IoOptions): Promise<Readable>;
  readBuffer(digest: Digest, opts?: IoOptions): Promise<Buffer>;
  readJson<T>(digest: Digest, opts?: IoOptions): Promise<T>;
  writer(opts?: WriteOptions): Promise<ContentWriter>;
  /** Writes a small blob (a manifest, a config) in one call. */
  writeBuffer(data: Buffer | string, expected?: Partial<BlobInfo>, opts?: WriteOptions): Promise<BlobInfo>;
  delete(digest: Digest): Promise<void>;
  list(): AsyncIterable<BlobInfo>;
}

/** A mount as plain data: what the executor hands to mount(2) / runc. */
export interface Mount {
  type: string;
  source: string;
  target?: string;
  options: string[];
  /**
   * Directory that relative paths in `options` are resolved from: the mount must be made with this working
   * directory (spawn mount(8) with `cwd`). Set only for deep overlay stacks whose absolute lowerdir list
   * would pass the kernel's 4 KiB limit on mount options (Docker's overlay2 mounts the same way).
   */
  cwd?: string;
}

/** An unpacked layer chain: `key` names it (the chain ID of its layers, or a builder step's key). */
export interface SnapshotInfo {
  key: string;
  parent?: string;
  /** Directory holding the unpacked files of this snapshot alone (an overlay lower/upper dir). */
  dir: string;
  kind: 'committed' | 'active';
}

/**
 * Unpacked layers for overlayfs, as containerd's snapshotter: methods return data and mount nothing, so the
 * logic is unit-testable without root. The executor performs the mounts.
 */
export interface Snapshotter {
  /** Ensures the layers of an image are unpacked; returns the key of the top committed snapshot (undefined for no layers). */
  ensureImage(layers: Array<{ descriptor: Descriptor; diffId: Digest }>, opts?: IoOptions): Promise<string | undefined>;
  /** A new active snapshot (a fresh upper dir) on top of `parent`; returns its mounts for a rootfs. */
  prepare(key: string, parent: string | undefined): Promise<Mount[]>;
  /** Read-only mounts of a committed snapshot chain (for `COPY --from`, bind mounts from a stage). */
  view(key: string, parent: string | undefined): Promise<Mount[]>;
  /** Turns an active snapshot into a committed one named `name`. */
  commit(name: string, key: string): Promise<void>;
  remove(key: string): Promise<void>;
  stat(key: string): Promise<SnapshotInfo | undefined>;
  /** The directories of a committed chain, top first (what overlay's lowerdir lists). */
  lowerDirs(key: string): Promise<string[]>;
  /** Every snapshot (for garbage collection and `kiln du`). */
  list(): Promise<SnapshotInfo[]>;
}
