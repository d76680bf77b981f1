/**
 * Boundary types of src/history/: the record one build leaves under `<root>/history/<id>/` (record.json, the
 * Dockerfile, one compressed log per step). The builder's recorder writes them, `kiln history`, the server's
 * `/kiln/v1/history` API and the web page read them. Times are epoch milliseconds; sizes are bytes.
 */

/** A build's state. `incomplete`: it was running when its owner process went away (crash, SIGKILL). */
export type BuildStatus = 'running' | 'completed' | 'failed' | 'cancelled' | 'incomplete';

/**
 * A step's state. `shared`: it joined an identical step already running (the flight map) and ran there;
 * `cancelled`: it was running or waiting when another step failed or the caller cancelled.
 */
export type StepStatus = 'running' | 'executed' | 'cached' | 'shared' | 'failed' | 'cancelled';

/** Who asked for a build and from where. */
export interface BuildOrigin {
  /** `local`: the CLI in this process; `daemon`: the resident builder on a local client's behalf; `server`: kiln serve. */
  kind: 'local' | 'daemon' | 'server';
  /** The local user's name (local, daemon). */
  user?: string;
  uid?: number;
  /** The host name the build ran on. */
  host?: string;
  /** The client's address (server: `ip:port`). */
  address?: string;
  /** The authenticated identity of a server's client (the token's name), when the server checks one. */
  identity?: string;
}

/** One stage of the build as the page draws it: a lane. Multi-platform builds have one per platform. */
export interface StageRecord {
  /** The label steps carry in `StepRecord.stage` (`build`, `linux/arm64 build`, '' for an unnamed final stage). */
  label: string;
  /** A name to show: the AS name, or `stage-N`. */
  name: string;
  /** 0-based position in the Dockerfile. */
  index: number;
  platform: string;
  /** `scratch`, the base image reference, or `stage:<label>`. */
  base: string;
  /** Labels of the stages this one reads (FROM stage, COPY --from, RUN --mount from=). */
  dependsOn: string[];
}

/** Where a cache hit came from. */
export interface CacheSource {
  kind: 'local' | 'remote';
  /** The imported cache's reference (remote). */
  ref?: string;
}

export interface StepRecord {
  /** Global step number across the build, from 1 (the `#N` of plain progress). */
  id: number;
  /** The stage label (see StageRecord.label). */
  stage: string;
  /** Position in its stage, FROM = 1. */
  index: number;
  /** The instruction as written, continuation lines joined. */
  text: string;
  /** The instruction keyword: FROM, RUN, COPY, ADD, WORKDIR. */
  kind: string;
  loc?: { file: string; line: number };
  start: number;
  end?: number;
  status: StepStatus;
  cache?: CacheSource;
  /** Why the step missed the cache (the `--explain` text; computed for every miss). */
  missReason?: string;
  /** The size of the layer the step produced (compressed blob), when it produced one. */
  bytesWritten?: number;
  exitCode?: number;
  /** The error message of a failed step. */
  error?: string;
  /** Bytes of output the step printed (stdout and stderr), all of it kept in its log. */
  logBytes: number;
}

export interface BuildWarning {
  message: string;
  loc?: { file: string; line: number };
}

/** A finished build's products. */
export interface BuildRecordResult {
  /** The image config digest (Docker's image ID; a multi-platform build's index digest). */
  imageId: string;
  manifestDigest: string;
  tags: string[];
  /** Outputs as `type` or `type=dest` (no credentials). */
  outputs: string[];
  /** References pushed. */
  pushes: string[];
  platforms?: Array<{ platform: string; imageId: string; manifestDigest: string }>;
  stepsExecuted: number;
  stepsCached: number;
  stepsShared: number;
}

export interface BuildRecordError {
  message: string;
  code?: string;
  /** The failed step's id. */
  step?: number;
  /** `Dockerfile:12` where known. */
  loc?: { file: string; line: number };
  exitCode?: number;
}

/** `<root>/history/<id>/record.json`. */
export interface BuildRecord {
  /** Format version of this file. */
  version: 1;
  /** 26 lower-case base32 characters, sortable by start time. */
  id: string;
  status: BuildStatus;
  origin: BuildOrigin;
  /** The owner process's token (cache/lock.ts ownerToken): a running record whose owner is dead reads as incomplete. */
  owner: string;
  /** The Dockerfile's name (as given) and the sha256 of its text. */
  dockerfile: { name: string; digest: string };
  target?: string;
  platforms: string[];
  /** Build args; values of args named like secrets are `[REDACTED]`. */
  buildArgs: Record<string, string>;
  /** Secret ids the build was given (never their values). */
  secrets: string[];
  /** sha256 over the context's file list and contents as sent, when the front end knows it (server: the tar). */
  contextDigest?: string;
  tags: string[];
  start: number;
  end?: number;
  stages: StageRecord[];
  steps: StepRecord[];
  warnings: BuildWarning[];
  result?: BuildRecordResult;
  error?: BuildRecordError;
  /** Total bytes of the record's directory (logs compressed), updated as it grows. */
  sizeBytes?: number;
}

/** `kiln history ls --filter`: every field given must match. */
export interface HistoryFilter {
  status?: BuildStatus[];
  /** A substring of a tag or the target. */
  ref?: string;
  /** Started at or after this time (ms). */
  since?: number;
  /** Started before this time (ms). */
  until?: number;
}

/** Retention limits; a record beyond any of them is removed, oldest first (running builds are kept). */
export interface RetentionPolicy {
  maxRecords: number;
  maxAgeMs: number;
  maxSizeBytes: number;
}

/** BuildKit's defaults (50 records, 48 h) and a 1 GiB size cap. */
export const DEFAULT_RETENTION: RetentionPolicy = { maxRecords: 50, maxAgeMs: 48 * 3600_000, maxSizeBytes: 1024 ** 3 };

/** A record as lists show it (`GET /kiln/v1/history?summary=1`): steps reduced to id, kind and status. */
export type BuildSummary = Omit<BuildRecord, 'steps' | 'stages' | 'warnings'> & {
  steps: Array<Pick<StepRecord, 'id' | 'kind' | 'status'>>;
};
