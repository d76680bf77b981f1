/**
 * What the server needs from the rest of kiln, as one small interface. `createLocalBackend` (local-backend.ts)
 * wires it to the real builder, image store, registry client and executor of a state root; unit tests pass fakes.
 * Shapes are Docker's where the Engine API passes them straight through (image lists, inspect).
 */
import type { Filters } from './filters.js';
import type { Readable, Writable } from 'node:stream';
import type { BuildOptions, BuildResult } from '../builder/types.js';
import type { AuthConfig, RegistryCredentials } from './registry-auth.js';
import type { JsonMessage } from './build-stream.js';
import type { ContainerPathStat } from '../containers/container-fs.js';
import type { ImageLayers } from './ui/image-layers.js';

export interface IoOpts {
  signal?: AbortSignal;
}

/** One image as `GET /images/json` lists it (Docker field names; image-shapes.ts makes it). */
export interface ImageSummary {
  Containers: number;
  /** Unix seconds. */
  Created: number;
  Id: string;
  Labels: Record<string, string> | null;
  ParentId: string;
  RepoDigests: string[];
  RepoTags: string[];
  SharedSize: number;
  /** Uncompressed bytes of the layers. */
  Size: number;
  /** Size again, for API < 1.44 only (forApiVersion). */
  VirtualSize?: number;
  /** API 1.47+ with `manifests=1`: a multi-platform image's platform manifests (Docker 25+'s containerd store). */
  Manifests?: ImageManifestSummary[];
}

/** One platform manifest of an index, as dockerd's `GET /images/json?manifests=1` lists it. */
export interface ImageManifestSummary {
  ID: string;
  Descriptor: { mediaType: string; digest: string; size: number; platform?: Record<string, string> };
  Available: boolean;
  Size: { Total: number; Content: number };
  Kind: 'image';
  ImageData: { Platform: Record<string, string>; Containers: string[]; Size: { Unpacked: number } };
}

/** `GET /images/{name}/json`, every key dockerd 20.10 answers (image-shapes.ts makes it). */
export interface ImageInspect {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Parent: string;
  Comment: string;
  Created: string;
  Container: string;
  ContainerConfig: Record<string, unknown>;
  DockerVersion: string;
  Author: string;
  Config: Record<string, unknown> & { Labels?: Record<string, string> | null; Env?: string[] | null; Cmd?: string[] | null };
  Architecture: string;
  Variant?: string;
  Os: string;
  Size: number;
  VirtualSize?: number;
  GraphDriver: { Data: Record<string, string> | null; Name: string };
  RootFS: { Type: string; Layers: string[] };
  Metadata: { LastTagTime: string };
}

export interface ImageBackend {
  /** `manifests`: add each index's platform manifests (API 1.47+). */
  list(opts?: IoOpts & { manifests?: boolean }): Promise<ImageSummary[]>;
  /** IMAGE_NOT_FOUND when `name` resolves to nothing. */
  inspect(name: string, opts?: IoOpts): Promise<ImageInspect>;
  tag(source: string, target: string, opts?: IoOpts): Promise<void>;
  /** Docker's `DELETE /images/{name}` answer: what was untagged and deleted. */
  remove(name: string, opts: IoOpts & { force?: boolean; noPrune?: boolean }): Promise<Array<{ Untagged?: string; Deleted?: string }>>;
  /** `docker history`: one row per history entry, newest first (Docker's field names). */
  history?(
    name: string,
    opts?: IoOpts,
  ): Promise<Array<{ Id: string; Created: number; CreatedBy: string; Tags: string[] | null; Size: number; Comment: string }>>;
  /** `docker image prune`: removes dangling images and unreferenced blobs. */
  /** Removes the unused images the filters select (checked here: 400s); what was untagged and deleted. */
  prune?(opts?: IoOpts & { filters?: Filters }): Promise<{ ImagesDeleted: Array<{ Untagged?: string; Deleted?: string }>; SpaceReclaimed: number }>;
  /** Writes a `docker save` tar of `names` to `out`. */
  save?(names: string[], out: Writable, opts?: IoOpts): Promise<void>;
  /** Loads a `docker save` / OCI archive; returns the references (or IDs) loaded. */
  load?(input: Readable, opts?: IoOpts): Promise<string[]>;
}

export interface ProgressOpts extends IoOpts {
  auth?: AuthConfig;
  /** Docker progress messages (`{"status":"Pushed","id":"abc"}`), streamed to the client as they come. */
  onProgress?: (m: JsonMessage) => void;
}

export interface RegistryBackend {
  pull(ref: string, opts: ProgressOpts & { platform?: string }): Promise<{ ref: string; digest: string }>;
  push(ref: string, opts: ProgressOpts): Promise<{ tag: string; digest: string; size: number }>;
  /** Checks credentials against a registry (`docker login` through the server); REGISTRY_UNAUTHORIZED when wrong. */
  login?(auth: AuthConfig, opts?: IoOpts): Promise<void>;
}

/** What `POST /containers/create` needs from the body (Docker's field names). */
export interface ContainerCreate {
  Image: string;
  Cmd?: string[] | null;
  Entrypoint?: string[] | string | null;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
  Tty?: boolean;
  OpenStdin?: boolean;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  Labels?: Record<string, string> | null;
  Hostname?: string;
  /** `--stop-signal`: what `docker stop` sends first. */
  StopSignal?: string;
  /** `--health-*` (durations in ns) and `--no-healthcheck` (Test ["NONE"]); over the image's HEALTHCHECK. */
  Healthcheck?: { Test?: string[] | null; Interval?: number; Timeout?: number; StartPeriod?: number; StartInterval?: number; Retries?: number } | null;
  HostConfig?: {
    /** `--restart`: {Name no|always|unless-stopped|on-failure, MaximumRetryCount}. */
    RestartPolicy?: { Name?: string; MaximumRetryCount?: number } | null;
    AutoRemove?: boolean;
    Privileged?: boolean;
    CapAdd?: string[] | null;
    CapDrop?: string[] | null;
    /** `seccomp=unconfined`, or `seccomp={…profile JSON…}` (the docker CLI sends the file's content). */
    SecurityOpt?: string[] | null;
    ReadonlyRootfs?: boolean;
    /** `{"/run": "rw,size=64m"}` from `docker run --tmpfs`. */
    Tmpfs?: Record<string, string> | null;
    /** Bytes; 0 is unset. */
    Memory?: number | null;
    /** CPUs x 1e9; 0 is unset. */
    NanoCpus?: number | null;
    /** 0, -1 and null are unset. */
    PidsLimit?: number | null;
    /** `[rows, columns]` of a `-t` container's terminal as it starts (the docker CLI sends its window's). */
    ConsoleSize?: [number, number] | null;
    NetworkMode?: string;
    /** `HOST-SRC:DST[:ro|rw]` or `VOLUME:DST[:…]`, as `docker run -v`. */
    Binds?: string[] | null;
    /** `CONTAINER[:ro|rw]`, as `docker run --volumes-from`. */
    VolumesFrom?: string[] | null;
    ExtraHosts?: string[] | null;
    /** `{"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}` from `docker run -p`. */
    PortBindings?: Record<string, Array<{ HostIp?: string; HostPort?: string }> | null> | null;
  };
  /** Per network (name or id): `--network-alias` and `--ip` (the other fields are refused by host-config.ts). */
  NetworkingConfig?: {
    EndpointsConfig?: Record<string, { Aliases?: string[] | null; IPAMConfig?: { IPv4Address?: string } | null } | null> | null;
  } | null;
}

/** `docker logs` options (`GET /containers/{id}/logs`). */
export interface LogsOptions {
  follow?: boolean;
  /** The last N lines only (`--tail N`); undefined for all. */
  tail?: number;
  /** Each line prefixed with the time it was written (`-t`). */
  timestamps?: boolean;
  /** Lines written at or after / at or before these times, in ms since the epoch (`--since`, `--until`). */
  since?: number;
  until?: number;
  /** false leaves that stream out. */
  stdout?: boolean;
  stderr?: boolean;
}

/** What `POST /containers/{id}/exec` needs from the body. */
export interface ExecCreate {
  Cmd: string[];
  Env?: string[] | null;
  User?: string;
  WorkingDir?: string;
  Tty?: boolean;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
}

/** `GET /exec/{id}/json`: the docker CLI reads ExitCode from it once the output has ended. */
export interface ExecInspect {
  ID: string;
  ContainerID: string;
  Running: boolean;
  ExitCode: number | null;
  OpenStdin: boolean;
  OpenStdout: boolean;
  OpenStderr: boolean;
  ProcessConfig: { tty: boolean; entrypoint: string; arguments: string[]; user: string };
  Pid: number;
}

/** The process of a started container, for attach and wait. */
export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  Command: string;
  Created: number;
  State: string;
  Status: string;
  /** Published ports, as `docker ps` shows them (`127.0.0.1:8080->80/tcp`). */
  Ports?: Array<{ IP?: string; PrivatePort: number; PublicPort: number; Type: 'tcp' | 'udp' }>;
  /** Always an object (`{}` when none), as dockerd's. */
  Labels: Record<string, string>;
  /** The image ID the container was created from. */
  ImageID?: string;
  /** With `size=1`: bytes in the writable layer (left out when 0, as dockerd) and with the image's. */
  SizeRw?: number;
  SizeRootFs?: number;
  HostConfig?: { NetworkMode: string };
  NetworkSettings?: { Networks: Record<string, unknown> };
  Mounts?: unknown[];
}

export interface ContainerBackend {
  /** `platform`: `docker run --platform` (which manifest of a multi-platform image; a foreign one needs its emulator). */
  create(spec: ContainerCreate, opts: { name?: string; platform?: string }): Promise<{ id: string; warnings: string[] }>;
  /** Starts the process; stdout/stderr go to the sinks registered by `attach` before start (else to the log). */
  start(id: string): Promise<void>;
  /** Registers sinks for a container's output; resolves when the output ends. */
  attach(id: string, sinks: { stdout?: Writable; stderr?: Writable; stdin?: Readable }): Promise<void>;
  /** Resolves with the exit status once the container stops (`removed`: and has been removed). */
  wait(id: string, condition: 'not-running' | 'next-exit' | 'removed', opts?: IoOpts): Promise<{ StatusCode: number }>;
  logs?(id: string, out: { stdout: Writable; stderr: Writable }, opts: LogsOptions & IoOpts): Promise<void>;
  stop(id: string, opts?: { timeoutSeconds?: number }): Promise<void>;
  /** `docker restart`: stop (if running), then start again. */
  restart?(id: string, opts?: { timeoutSeconds?: number }): Promise<void>;
  /** `volumes`: its anonymous volumes too (`docker rm -v`). */
  remove(id: string, opts?: { force?: boolean; volumes?: boolean }): Promise<void>;
  /** `filters`: already checked (checkContainerListFilters); `status` lists stopped ones without `all`. */
  list(opts: { all?: boolean; filters?: Filters; size?: boolean }): Promise<ContainerSummary[]>;
  /** `size`: with SizeRw and SizeRootFs (`docker inspect -s`). */
  inspect(id: string, opts?: { size?: boolean }): Promise<unknown>;
  /** `POST /containers/prune`: removes the stopped containers the filters select (checked here: 400s). */
  prune?(opts: { filters?: Filters }): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }>;
  /** Registers a process to run in a running container (`docker exec`); returns the exec ID. */
  execCreate?(id: string, spec: ExecCreate): Promise<string>;
  /** Runs a registered exec with its output on `sinks`; resolves with its exit code (also kept for execInspect). */
  execStart?(
    execId: string,
    sinks: { stdout?: Writable; stderr?: Writable; stdin?: Readable },
    opts?: IoOpts & { consoleSize?: [number, number] },
  ): Promise<number>;
  execInspect?(execId: string): Promise<ExecInspect>;
  /** Sets a `-t` container's terminal size (`POST /containers/{id}/resize?h=&w=`); kept until the terminal exists. */
  resize?(id: string, rows: number, cols: number): Promise<void>;
  execResize?(execId: string, rows: number, cols: number): Promise<void>;
  /** `docker diff`: Kind 0 modified, 1 added, 2 deleted (Docker's order and rules). */
  changes?(id: string): Promise<Array<{ Path: string; Kind: number }>>;
  /** `HEAD /containers/{id}/archive`: the path's stat; NOT_FOUND when absent. */
  statPath?(id: string, path: string): Promise<ContainerPathStat>;
  /** `GET /containers/{id}/archive`: `open` gets the stat (for the header) and returns where the tar goes. */
  archive?(id: string, path: string, open: (stat: ContainerPathStat) => Writable, opts?: IoOpts): Promise<void>;
  /** `PUT /containers/{id}/archive`: extracts the tar `input` into the directory `path`. */
  extract?(id: string, path: string, input: Readable, opts: IoOpts & { noOverwriteDirNonDir?: boolean; copyUIDGID?: boolean }): Promise<void>;
  /** `GET /containers/{id}/export`: the container's merged root filesystem as a tar, into what `open` returns. */
  export?(id: string, open: () => Writable, opts?: IoOpts): Promise<void>;
  /** `POST /commit`: a new image from the container; its ID. */
  commit?(id: string, opts: IoOpts & { ref?: string; changes?: string[]; comment?: string; author?: string; pause?: boolean }): Promise<{ Id: string }>;
  /** `docker top`: the host's `ps` rows of the container's processes. 409 when it is not running. */
  top?(id: string, psArgs?: string): Promise<{ Titles: string[]; Processes: string[][] }>;
  /**
   * `docker stats`: samples in dockerd's StatsJSON shape, handed to `send` one at a time: one (after a second's
   * baseline, unless `oneShot`) without `stream`, else one a second until the container stops or `signal` aborts.
   */
  stats?(id: string, opts: IoOpts & { stream: boolean; oneShot?: boolean }, send: (sample: unknown) => Promise<void>): Promise<void>;
  /** `docker pause` / `unpause` (cgroup freezer); 409 when not running (or not paused, for unpause). */
  pause?(id: string): Promise<void>;
  unpause?(id: string): Promise<void>;
  /** `docker update`: Docker's UpdateConfig body; unsupported fields are refused naming their option. */
  update?(id: string, config: Record<string, unknown>): Promise<{ Warnings: string[] }>;
  /** `docker rename`: 409 when the name is taken, 400 when invalid. */
  rename?(id: string, name: string): Promise<void>;
  /** `docker kill -s SIGNAL` (default SIGKILL): the signal is sent, the exit not awaited; 409 when not running. */
  kill?(id: string, signal?: string): Promise<void>;
}

/** A volume as `GET /volumes/{name}` answers it (dockerd's fields; UsageData only in `/system/df`). */
export interface VolumeInspect {
  Name: string;
  Driver: string;
  Mountpoint: string;
  /** RFC 3339 with its zone, seconds precision (`2024-01-02T03:04:05Z`). */
  CreatedAt: string;
  Labels: Record<string, string> | null;
  Scope: 'local';
  Options: Record<string, string> | null;
  UsageData?: { Size: number; RefCount: number };
}

/** `POST /volumes/create` (Docker's field names); DriverOpts' host paths already confined by the route. */
export interface VolumeCreate {
  Name?: string;
  Driver?: string;
  DriverOpts?: Record<string, string> | null;
  Labels?: Record<string, string> | null;
}

/** Volumes (`/volumes`); filters are checked by the backend (400s before any work). */
export interface VolumeBackend {
  list(opts: { filters?: Filters }): Promise<VolumeInspect[]>;
  /** Creating a name that exists returns that volume unchanged, as dockerd. */
  create(spec: VolumeCreate): Promise<VolumeInspect>;
  /** VOLUME_NOT_FOUND. */
  inspect(name: string): Promise<VolumeInspect>;
  /** VOLUME_NOT_FOUND; VOLUME_IN_USE (409) when a container uses it, unless `force`. */
  remove(name: string, opts?: { force?: boolean }): Promise<void>;
  /** Removes unused volumes the filters select; `onlyAnonymous` as API ≥ 1.42 without `all`. */
  prune(opts: { filters?: Filters; onlyAnonymous: boolean }): Promise<{ VolumesDeleted: string[]; SpaceReclaimed: number }>;
  /** Every volume with UsageData (bytes of its own files, containers using it), for `/system/df`. */
  usage?(): Promise<VolumeInspect[]>;
}

/** One event of the daemon's log (`GET /events`), Docker's message shape. */
export interface EventMessage {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: string;
  time: number;
  timeNano: number;
  status?: string;
  id?: string;
  from?: string;
}

/** The daemon's event log: what was recorded in a window, and what comes next. */
export interface EventsBackend {
  /** Events with `sinceNano <= timeNano <= untilNano`, oldest first. */
  read(o: { sinceNano?: number; untilNano?: number }): Promise<EventMessage[]>;
  /** Calls `onEvent` for each new event until `signal` aborts. */
  follow(onEvent: (e: EventMessage) => void, o: { signal: AbortSignal }): Promise<void>;
}

/** `POST /networks/create` (Docker's field names; docker-py sends null for what it leaves out). */
export interface NetworkCreateBody {
  Name?: string;
  CheckDuplicate?: boolean | null;
  Driver?: string | null;
  Internal?: boolean | null;
  Attachable?: boolean | null;
  Ingress?: boolean | null;
  EnableIPv6?: boolean | null;
  IPAM?: {
    Driver?: string | null;
    Options?: Record<string, string> | null;
    Config?: Array<{ Subnet?: string; IPRange?: string; Gateway?: string; AuxiliaryAddresses?: unknown }> | null;
  } | null;
  Options?: Record<string, string> | null;
  Labels?: Record<string, string> | null;
  Scope?: string | null;
  ConfigOnly?: boolean | null;
  ConfigFrom?: unknown;
}

/** A network as `GET /networks/{id}` answers (and each entry of `GET /networks`). */
export type NetworkInspect = Omit<import('../networks/types.js').NetworkRecord, 'IPAM' | 'gatewayImplicit'> & {
  /** As given by the user: Gateway only when given or picked by kiln's pool (dockerd's IPAM config). */
  IPAM: { Driver: 'default'; Options: Record<string, string>; Config: Array<{ Subnet: string; Gateway?: string; IPRange?: string }> };
  Containers: Record<string, import('../networks/types.js').EndpointView>;
  ConfigFrom: { Network: string };
  ConfigOnly: false;
};

/** User-defined networks (`/networks/*`). Filters are checked by the backend (400s). */
export interface NetworkBackend {
  list(opts: { filters?: Filters }): Promise<NetworkInspect[]>;
  /** By name, id or unique id prefix; NETWORK_NOT_FOUND (404). */
  inspect(ref: string): Promise<NetworkInspect>;
  create(body: NetworkCreateBody): Promise<{ Id: string; Warning: string }>;
  remove(ref: string): Promise<void>;
  connect(
    ref: string,
    body: { Container?: string; EndpointConfig?: { Aliases?: string[] | null; IPAMConfig?: { IPv4Address?: string; IPv6Address?: string } | null } | null },
  ): Promise<void>;
  disconnect(ref: string, body: { Container?: string; Force?: boolean }): Promise<void>;
  prune(opts: { filters?: Filters }): Promise<{ NetworksDeleted: string[] }>;
}

/** Disk usage and pruning (`/system/df`, `/build/prune`). */
export interface SystemBackend {
  df(opts?: IoOpts): Promise<{ LayersSize: number; Images: ImageSummary[]; Containers?: unknown[]; Volumes?: unknown[]; BuildCache: unknown[] }>;
  /** `all`: every record; `until`: records last used before; `keepStorage`: oldest first down to that many bytes. */
  pruneBuildCache(opts: IoOpts & { all?: boolean; until?: Date; keepStorage?: number }): Promise<{ CachesDeleted: string[]; SpaceReclaimed: number }>;
}

export interface ServerBackend {
  /** Scratch directory for unpacked contexts; on the store's filesystem. */
  tmpDir: string;
  /** The layers of an image in the local store, with the files each adds and removes (the web page's layer view). */
  imageLayers?(digest: string, opts: IoOpts & { platform?: string; maxFiles?: number }): Promise<ImageLayers>;
  build(opts: BuildOptions & { registryAuth?: RegistryCredentials }): Promise<BuildResult>;
  images: ImageBackend;
  registry?: RegistryBackend;
  containers?: ContainerBackend;
  volumes?: VolumeBackend;
  networks?: NetworkBackend;
  system?: SystemBackend;
  events?: EventsBackend;
  /** The state root whose build records `/kiln/v1/history` serves (src/history/); unset: no records. */
  historyRoot?: string;
  /** Releases what the backend holds (locks, child processes). */
  close?(): Promise<void>;
}
