/**
 * Boundary types of src/builder/: what a front end (CLI, server) passes in and gets back. The builder never
 * prints; it emits BuildEvents that the CLI renders and the server streams.
 */
import type { Digest } from '../image/types.js';
import type { Writable } from 'node:stream';
import type { CacheExport, CacheImport } from '../remote-cache/spec.js';
import type { CredentialLookup } from '../registry/types.js';
import type { BuildOrigin, RetentionPolicy } from '../history/types.js';

export type OutputSpec =
  | {
      type: 'image';
      push?: boolean;
      /** `name=` of BuildKit's image output: more references to tag. */
      names?: string[];
      /**
       * BuildKit's `store=false` (with push): the image goes to the registry only, never into the local store, so
       * layers that hit in an imported cache are mounted there instead of being downloaded. Default true.
       */
      store?: boolean;
    }
  | { type: 'oci' | 'docker' | 'tar'; dest: string }
  /** `keepOwners`: internal (a multi-platform tar's staging directory): files keep their owners, as a tar does. */
  | { type: 'local'; dest: string; keepOwners?: boolean };

export interface SecretSource {
  id: string;
  src?: string;
  env?: string;
  /** The env secret's value, read by the front end from its caller's environment (else `env` is read here). */
  value?: string;
}

/**
 * `--ssh ID=SOCKET`: an SSH agent the build's `RUN --mount=type=ssh,id=ID` steps may use (BuildKit's `--ssh`).
 * `socket` is the agent's Unix socket on this host; it never enters a key, a layer or the image.
 */
export interface SshSource {
  id: string;
  socket: string;
}

export interface BuildOptions {
  /** The context directory on disk (the server and `-` unpack a tar into a temp dir first). */
  contextDir: string;
  /**
   * A Dockerfile on this host that the user named (`-f`): read as given, symlinks and all (their own file, as
   * BuildKit reads `-f`); its `<name>.dockerignore` is read inside its directory. Ignored when
   * `contextDockerfile` is set.
   */
  dockerfile?: string;
  /**
   * The Dockerfile's path inside the context (slash-separated; the server's `dockerfile=`). It and the default
   * (`Dockerfile`, when neither is given) are read inside the context: a symlink escaping it is confined to it.
   */
  contextDockerfile?: string;
  /** Dockerfile text given directly (stdin, server); wins over `dockerfile` for the content, which still names it. */
  dockerfileText?: string;
  tags?: string[];
  buildArgs?: Record<string, string>;
  target?: string;
  noCache?: boolean;
  pull?: boolean;
  labels?: Record<string, string>;
  compression?: 'gzip' | 'zstd' | 'none';
  format?: 'oci' | 'docker';
  outputs?: OutputSpec[];
  secrets?: SecretSource[];
  /** SSH agents for `RUN --mount=type=ssh`, by id (`default` when the mount names none). */
  ssh?: SshSource[];
  platform?: string;
  networkMode?: 'default' | 'none' | 'host';
  extraHosts?: string[];
  /**
   * Entitlements granted to this build (BuildKit's `--allow`, src/builder/entitlements.ts). `security.insecure`
   * lets `RUN --security=insecure` run with every capability and no seccomp filter; `network.host` lets a RUN
   * step use the host's network (`RUN --network=host`, or `networkMode: 'host'`). Without them such a step fails
   * with ENTITLEMENT_DENIED before running.
   */
  allow?: string[];
  /** What a refused step tells its user to do (default: build with `--allow <entitlement>`); a server words its own. */
  entitlementHint?: (entitlement: 'network.host' | 'security.insecure') => string;
  /** Report why each step missed the cache. */
  explain?: boolean;
  /** Caches to import (`--cache-from`): consulted, lazily, for a step that misses the local cache. */
  cacheFrom?: CacheImport[];
  /** Caches to export after a successful build (`--cache-to`). */
  cacheTo?: CacheExport[];
  /**
   * The only registry credentials of this build's cache import and export, when set: a build served by
   * `kiln serve` gets its client's (X-Registry-Config), never the server's logins, as its FROM pulls do. Unset
   * (a CLI build): the caller's config files (registry/client-options.ts withConfigDefaults).
   */
  registryCredentials?: CredentialLookup;
  /**
   * SOURCE_DATE_EPOCH in seconds (also read from the build arg of that name): clamps layer file times and sets
   * every `created`, so the same inputs give the same image digest on any root.
   */
  sourceDateEpoch?: number | string;
  signal?: AbortSignal;
  /** Where outputs with `dest=-` stream (default this process's stdout; a daemon-served build's goes to its client). */
  stdout?: Writable;
  onEvent?: (e: BuildEvent) => void;
  /** Who asked for this build, for its record (default: this process's user and host, `local`). */
  origin?: BuildOrigin;
  /** `false`: leave no build record (internal builds). */
  history?: false;
  /** Retention applied to the records after this build ends (default: KILN_HISTORY_MAX_* or 50 / 48 h / 1 GiB). */
  historyRetention?: RetentionPolicy;
  /** sha256 of the context as the front end received it (the server's tar), for the record. */
  contextDigest?: string;
  /** Internal: told the Dockerfile's name and text once read (the build recorder keeps them). */
  onDockerfile?: (df: { name: string; text: string }) => void;
}

export interface BuildResult {
  /** Digest of the image config (Docker's image ID). */
  imageId: Digest;
  manifestDigest: Digest;
  tags: string[];
  /** Steps executed (not cached); the cache tests count these. */
  stepsExecuted: number;
  stepsCached: number;
  /**
   * Steps that joined an identical step already running for another stage or build (the flight map): they ran
   * once, elsewhere. Neither executed here nor a cache hit. Always set by the builder; optional for fakes.
   */
  stepsShared: number;
  /**
   * A multi-platform build: each platform's image (its config digest and manifest); `imageId` and
   * `manifestDigest` are then the index's digest (what the tag names, as Docker's containerd store shows).
   */
  platforms?: Array<{ platform: string; imageId: Digest; manifestDigest: Digest }>;
  /** With `--cache-from`: steps an imported cache answered, and the blobs (bytes) fetched from it. */
  cacheImport?: { hits: number; blobsFetched: number; bytesFetched: number };
}

/** One step of a build as the user sees it: `[stage i/n] INSTRUCTION`. */
export interface StepRef {
  /** Global step number across the build, from 1 (`#N` in plain progress). */
  id: number;
  stage: string;
  index: number;
  total: number;
  /** The instruction text as written (after expansion for display). */
  text: string;
  loc?: { file: string; line: number };
}

/** One instruction of a built stage as written (`build-start`'s list). */
export interface BuildInstruction {
  kind: string;
  text: string;
  loc: { file: string; line: number };
}

/**
 * One stage of the build graph (`build-start`'s `graph`): what the build record draws as a lane. `label` is what
 * the stage's steps carry in StepRef.stage; `dependsOn` lists the labels of the stages it reads.
 */
export interface StageNode {
  label: string;
  name: string;
  index: number;
  platform: string;
  /** True when the stage's own `FROM --platform` fixed its platform (a multi-platform build does not vary it). */
  fixedPlatform?: boolean;
  /** `scratch`, the base image reference, or `stage:<label>`. */
  base: string;
  dependsOn: string[];
}

/** One layer of a FROM pull: bytes so far of `total`; `done` once fetched, `exists` if the store had it. */
export interface PullLayerProgress {
  digest: string;
  current: number;
  total: number;
  state: 'downloading' | 'done' | 'exists';
}

export type BuildEvent =
  /**
   * `instructions`: every instruction of the stages built, FROM included, in Dockerfile order, as written: what
   * the server's legacy output numbers `Step N/M` over (dockerd counts metadata instructions too).
   */
  | { type: 'build-start'; steps: number; stages: string[]; instructions?: BuildInstruction[]; graph?: StageNode[] }
  | { type: 'step-start'; step: StepRef }
  /**
   * `source`: the imported cache that answered, when the local cache missed. `result`: as in step-done. `shared`:
   * the step joined an identical one running elsewhere (flight map) rather than hitting the cache.
   */
  | { type: 'step-cached'; step: StepRef; source?: string; result?: string; shared?: boolean }
  | { type: 'step-miss-reason'; step: StepRef; reason: string }
  | { type: 'step-output'; step: StepRef; stream: 'stdout' | 'stderr'; data: string }
  /** `result`: an ID of what the step produced (its cache record's key; for FROM the base image's ID). */
  /** `bytes`: the compressed size of the layer the step wrote, when it wrote one. */
  | { type: 'step-done'; step: StepRef; durationMs: number; result?: string; bytes?: number }
  | { type: 'step-error'; step: StepRef; message: string; exitCode?: number }
  /** A FROM pull: a status line; while a layer moves, also its byte progress (plain/tty show `1.2MB / 3.4MB`). */
  | { type: 'pull'; ref: string; status: string; layer?: PullLayerProgress }
  | { type: 'export'; status: string }
  | { type: 'build-done'; result: BuildResult }
  | { type: 'warning'; message: string; loc?: { file: string; line: number } };
