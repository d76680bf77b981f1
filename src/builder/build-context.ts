/**
 * Everything one build shares across its stages and steps: options, the cache index, the event sink, counters,
 * the step-number allocator and the cancellation signal. Created by builder.ts per `build()` call.
 */
import type { BuildCache, CacheRecord } from '../cache/build-cache.js';
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
  stats: { executed: number; cached: number; shared: number };
  /** `os/arch[/variant]` of the target. */
  platform: string;
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
}
