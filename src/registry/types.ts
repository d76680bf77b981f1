/**
 * Boundary types of the registry client (OCI distribution spec), shaped like containerd's remotes: a `Resolver`
 * turns a reference into a descriptor and hands out a `Fetcher` (blobs and manifests as streams) and a `Pusher`
 * (an ordinary content writer per blob), so one copy routine (copy.ts) moves blobs into the local store and into
 * a registry alike.
 */
import type { Readable } from 'node:stream';
import type { BlobInfo, ContentWriter, IoOptions } from '../cache/types.js';
import type { Descriptor, Digest, Platform } from '../image/types.js';

/** A reference split the way the distribution API needs it. `registry` is as written (`docker.io`, `127.0.0.1:5000`). */
export interface RegistryRef {
  registry: string;
  repository: string;
  tag?: string;
  digest?: Digest;
}

/** Where credentials, CAs and insecure-registry lists come from. Every field optional. */
export interface RegistryClientOptions {
  /** Extra CA certificates (PEM) trusted on top of the system's (`--tls-ca`). */
  tlsCa?: Array<string | Buffer>;
  /** Registries (`host[:port]`) that may use plain HTTP or unverified TLS, besides loopback ones. */
  insecureRegistries?: string[];
  /** Looks up credentials for a registry host; see credentials.ts. */
  credentials?: CredentialLookup;
  /** Attempts per request on resets, 429 and 5xx (first try included). Default 5. */
  maxAttempts?: number;
  /** First backoff delay in ms, doubled each retry (with jitter, capped at 10 s). Default 250. */
  backoffMs?: number;
  /** Idle socket timeout in ms: a stalled response counts as a reset. Default 60 s. */
  idleTimeoutMs?: number;
  /** Largest manifest or index accepted, in bytes. Default 4 MiB (as containerd and Docker). */
  maxManifestBytes?: number;
  /** Chunk size for chunked uploads in bytes; 0 uploads each blob in one streamed request. Default 0. */
  chunkSize?: number;
  /** Parallel blob transfers. Default 3. */
  concurrency?: number;
  userAgent?: string;
  /** Called once per HTTP request made (method, URL without credentials), for tests and benchmarks counting round trips. */
  onRequest?: (method: string, url: string) => void;
}

export interface Credentials {
  username: string;
  password: string;
  /**
   * An OAuth2 refresh token (Docker's `identitytoken`, or a credential helper's secret for the user `<token>`):
   * exchanged at the token server with a `refresh_token` grant instead of sending a password.
   */
  identityToken?: string;
}

/** The user name Docker's credential helpers and X-Registry-Auth use for "the secret is an identity token". */
export const IDENTITY_TOKEN_USER = '<token>';

/** Returns credentials for a registry host (`docker.io` for Docker Hub), or undefined for anonymous. */
export type CredentialLookup = (registry: string) => Promise<Credentials | undefined>;

export interface Fetcher {
  /** The blob or manifest's bytes from `offset`, checked against nothing yet: the caller's writer verifies. */
  fetch(desc: Descriptor, opts?: IoOptions & { offset?: number }): Promise<Readable>;
}

/** A registry upload: a ContentWriter whose commit finishes the upload; it can tell where a broken upload stands. */
export interface UploadWriter extends ContentWriter {
  /** Bytes the registry holds after a failure (from the upload's `Range`), or undefined when it cannot resume. */
  resumeOffset?(): Promise<number | undefined>;
}

export type PushStart = { status: 'exists' } | { status: 'mounted'; from: string } | { status: 'upload'; writer: UploadWriter };

export interface Pusher {
  /** HEAD, then a cross-repository mount when `mountFrom` names a sibling repository, else a new upload. */
  push(desc: Descriptor, opts?: IoOptions & { mountFrom?: string[] }): Promise<PushStart>;
  /** PUTs a manifest or index under `tagOrDigest`; returns the digest the registry reports. */
  putManifest(desc: Descriptor, body: Buffer, tagOrDigest: string, opts?: IoOptions): Promise<Digest>;
  /** True when the registry already has the manifest `digest` in this repository. */
  hasManifest(digest: Digest, opts?: IoOptions): Promise<boolean>;
}

export interface Resolver {
  /** Fetches a manifest or index by tag or digest (size-limited, digest-checked); returns its descriptor and bytes. */
  resolve(ref: RegistryRef, opts?: IoOptions): Promise<{ descriptor: Descriptor; body: Buffer }>;
  fetcher(ref: RegistryRef): Fetcher;
  pusher(ref: RegistryRef): Pusher;
}

/** A progress event from pull or push. Never carries credentials. */
export type TransferEvent =
  | { type: 'resolved'; ref: string; digest: Digest; mediaType: string }
  | {
      type: 'blob';
      digest: Digest;
      size: number;
      kind: 'config' | 'layer' | 'manifest';
      status: 'waiting' | 'exists' | 'mounted' | 'downloading' | 'uploading' | 'verifying' | 'done' | 'retrying';
      current: number;
      message?: string;
    }
  | { type: 'done'; ref: string; digest: Digest; size: number; tag?: string };

export type ProgressFn = (ev: TransferEvent) => void;

/** Result of a pull. `digest` is the repository digest (the index's, for multi-platform images). */
export interface PullResult {
  /** The reference as normalised (`docker.io/library/busybox:latest`). */
  ref: string;
  digest: Digest;
  /** The platform-specific manifest stored and tagged. */
  manifest: Descriptor;
  /** Blobs fetched / already present. */
  fetched: number;
  skipped: number;
  bytes: number;
}

export interface PushResult {
  ref: string;
  tag?: string;
  digest: Digest;
  size: number;
  uploaded: number;
  skipped: number;
  mounted: number;
  bytes: number;
}

export type { BlobInfo, Platform };
