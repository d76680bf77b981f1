/**
 * Boundary types of src/sandbox/: one process in a runc sandbox on an overlay root. The builder runs RUN steps
 * through `Executor.run`; `kiln run` builds on the same call plus container state.
 */
import type { Writable } from 'node:stream';
import type { Mount } from '../cache/types.js';
import type { SeccompSetting } from './security-opt.js';

export type NetworkMode = 'none' | 'host' | 'bridge' | 'default' | JoinedNamespace;

/**
 * A network namespace set up by the caller (user-defined networks, src/networks/): the container joins it as
 * is, and the caller removes it. `ip`: the container's address in it (published ports go there).
 */
export interface JoinedNamespace {
  path: string;
  ip?: string;
}

/** A mount inside the container, besides the rootfs. */
export interface ContainerMount {
  /** Absolute path inside the container. */
  target: string;
  type: 'bind' | 'tmpfs' | 'overlay';
  /** Host path for bind; ignored for tmpfs. */
  source?: string;
  readonly?: boolean;
  options?: string[];
  /** Docker's volume copy-up: when the (bind) source is empty, the image's files at `target` are copied into it first. */
  copyUp?: boolean;
  /** The volume mounted here (its name), for volume events and `--volumes-from`; absent for binds and --tmpfs. */
  volume?: string;
}

export interface ProcessSpec {
  args: string[];
  /** `KEY=value` strings; PATH is added when missing. */
  env: string[];
  /** Absolute; created when missing. Default `/`. */
  cwd?: string;
  /** As in an image config: `name`, `uid`, `uid:gid`, `name:group`; resolved in the rootfs's /etc/passwd and /etc/group. */
  user?: string;
  tty?: boolean;
  /** The terminal's size (rows, columns) as the process starts, with `tty` (runc's process.consoleSize). */
  consoleSize?: [number, number];
}

export interface RunOptions {
  /** The rootfs as mounts (from Snapshotter.prepare). */
  rootfs: Mount[];
  process: ProcessSpec;
  mounts?: ContainerMount[];
  network?: NetworkMode;
  hostname?: string;
  /** Extra lines for /etc/hosts (`ip name`). */
  extraHosts?: string[];
  /**
   * resolv.conf's nameservers instead of the host's (a user-defined network's embedded DNS server on its
   * gateway); the host's search and options lines are kept.
   */
  nameservers?: string[];
  limits?: { memoryBytes?: number; cpus?: number; pids?: number };
  /** Mount the rootfs read-only (`--read-only`). */
  readonlyRootfs?: boolean;
  /** `--privileged` (see SpecInput.privileged): every capability, no seccomp, every host device. */
  privileged?: boolean;
  /** Capabilities added to / dropped from Docker's default set (`CAP_` prefix optional; `ALL` for every one). */
  capAdd?: string[];
  capDrop?: string[];
  /**
   * The seccomp filter: Docker's default profile (the default; capability-gated groups follow the capabilities),
   * `unconfined` (`--security-opt seccomp=unconfined`, RUN `--security=insecure`), or a Docker-format profile.
   */
  seccomp?: SeccompSetting;
  stdin?: NodeJS.ReadableStream;
  stdout?: Writable;
  stderr?: Writable;
  /** 'inherit' hands kiln's own stdin/stdout/stderr to the container (for `-it`); overrides the streams above. */
  stdio?: 'inherit';
  signal?: AbortSignal;
  /** Container id (64 hex by default, random). Also the runc id and, shortened to 12, the default hostname. */
  id?: string;
  /** Published ports (bridge network only): a userland proxy in this process forwards host → container. */
  ports?: PortMapping[];
  /** Called once the container process is starting; `kill` forwards a signal to it (Ctrl-C, SIGTERM). */
  onStart?: (c: RunningContainer) => void;
}

export interface PortMapping {
  /** Host address to listen on; default 0.0.0.0. */
  hostIp?: string;
  hostPort: number;
  containerPort: number;
  /** Default tcp. */
  protocol?: 'tcp' | 'udp';
}

export interface RunningContainer {
  id: string;
  /** The container's address on the bridge, when it has one. */
  ip?: string;
  kill(signal?: NodeJS.Signals | number): Promise<void>;
  /** Sets the size of the container's terminal, when kiln relays one (a tty without an inherited terminal). */
  resize?(rows: number, cols: number): void;
}

export interface RunResult {
  exitCode: number;
  /** Set when the process died of a signal. */
  signal?: string;
}

/** Runs processes in runc sandboxes. Cancelling `signal` kills the container and removes its bundle and mounts. */
export interface Executor {
  /**
   * Mounts `rootfs`, runs the process with `runc run`, streams its output and returns its exit code. Cleans the
   * bundle, mounts, network and cgroup whatever happens. Throws COMMAND_NOT_FOUND (exitCode 127) when the
   * executable is missing, USER_NOT_FOUND, MOUNT_FAILED, RUNTIME_FAILED, PORT_IN_USE, CANCELLED.
   */
  run(opts: RunOptions): Promise<RunResult>;
}
