/**
 * Everything one build shares across its stages and steps: options, the cache index, the event sink, counters,
 * the step-number allocator and the cancellation signal. Created by builder.ts per `build()` call.
 */
import type { BuildCache, CacheRecord } from '../cache/build-cache.js';
import type { RegistryClient } from '../registry/client.js';
import type { CacheImporter } from '../remote-cache/importer.js';
import type { CacheExportInput, NotedResult } from './cache-transfer.js';
import type { Digest } from '../image/types.js';
import type { WrittenLayer } from './ports.js';
import type { Lease } from '../cache/lease.js';
import type { Compression } from '../layers/compression.js';
import type { ParsedDockerfile } from '../parser/types.js';
import type { PathMatcher } from './fileops/patterns.js';
import type { FlightMap } from './flight.js';
import type { BuilderDeps } from './ports.js';
import type { StageState } from './state.js';
import type { BuildEvent, BuildOptions, SecretSource, SshSource } from './types.js';

export interface BuildContext {
  deps: BuilderDeps;
  opts: BuildOptions;
  df: ParsedDockerfile;
  cache: BuildCache;
  signal: AbortSignal;
  emit(e: BuildEvent): void;
  /** `remote`: hits answered by an imported cache (also counted in `cached`). */
  stats: { executed: number; cached: number; shared: number; remote: number };
  /** `os/arch[/variant]` of the target. */
  platform: string;
  /**
   * Set when this is one platform's solve of a multi-platform build: stages are labelled with `label` (the
   * platform, as buildx shows `[linux/arm64 stage-1 2/3]`), and export writes the manifest untagged.
   */
  part?: {
    label: string;
    /**
     * `--cache-to` of several platforms is one cache: each platform hands over what it would export and a writer
     * bound to its own clients; the multi-platform build writes the merged whole once (multi-platform.ts).
     */
    shareCache?(mine: CacheExportInput[], write: (merged: CacheExportInput[]) => Promise<void>): Promise<void>;
  };
  compression: Compression;
  sourceDateEpoch?: number;
  /** ISO time for `created` fields: SOURCE_DATE_EPOCH's, else the build's start. */
  created: string;
  /** Absolute Dockerfile path (or a name for stdin text): part of slot ids, never of keys. */
  dockerfileId: string;
  nextStepId(): number;
  flight: FlightMap<CacheRecord>;
  /** Limits concurrent executions (RUN, COPY). */
  limit<T>(fn: () => Promise<T>): Promise<T>;
  lease?: Lease;
  /** Scratch directory of this build under `<root>/tmp`, removed at the end. */
  tmpDir: string;
  secrets: Map<string, SecretSource>;
  /** `--ssh` agents by id. */
  ssh: Map<string, SshSource>;
  contextDir: string;
  ignore?: PathMatcher;
  /** The built state of a stage (memoized; starts it when needed). */
  stage(index: number): Promise<StageState>;
  /** The imported caches (`--cache-from`), when any. */
  remote?: CacheImporter;
  /** Remote hits waiting for their blob, by blob digest: recorded locally once it is fetched. */
  pendingRemote: Map<Digest, CacheRecord[]>;
  /** Blob fetches from imported caches in flight (one per blob). */
  fetching: Map<Digest, Promise<void>>;
  /**
   * Executed steps whose layer blob is still being fsynced and published, each followed by its cache record:
   * the next step does not wait for them, the export does (step-runner.ts, `settleDurable`).
   */
  durable: Set<Promise<void>>;
  /** Every step result of the build, by key (filled only when exporting cache). */
  results: Map<Digest, NotedResult>;
  /** Ids (directory names) of the shared cache mounts RUN steps used. */
  cacheMountsUsed: Set<string>;
  /** Cache-mount layers written for export, by id and compression (several exports share one). */
  mountLayers: Map<string, WrittenLayer>;
  /** A registry client for cache transfers, made on first use and closed with the build. */
  registryClient(operator: boolean): Promise<RegistryClient>;
  /** Runs `fn` when the build ends (success or failure). */
  onFinish(fn: () => void): void;
}
