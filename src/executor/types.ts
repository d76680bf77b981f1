/**
 * Boundary types of src/executor/: one process in a runc sandbox on an overlay root. The builder runs RUN steps
 * through `Executor.run`; `kiln run` builds on the same call plus container state.
 */
import type { Writable } from 'node:stream';
import type { Mount } from '../cache/types.js';

export type NetworkMode = 'none' | 'host' | 'bridge' | 'default';

/** A mount inside the container, besides the rootfs. */
export interface ContainerMount {
  /** Absolute path inside the container. */
  target: string;
  type: 'bind' | 'tmpfs' | 'overlay';
  /** Host path for bind; ignored for tmpfs. */
  source?: string;
  readonly?: boolean;
  options?: string[];
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
  limits?: { memoryBytes?: number; cpus?: number; pids?: number };
  stdin?: NodeJS.ReadableStream;
  stdout?: Writable;
  stderr?: Writable;
  signal?: AbortSignal;
}

export interface RunResult {
  exitCode: number;
  /** Set when the process died of a signal. */
  signal?: string;
}

/** Runs processes in runc sandboxes. Cancelling `signal` kills the container and removes its bundle and mounts. */
export interface Executor {
  run(opts: RunOptions): Promise<RunResult>;
}
