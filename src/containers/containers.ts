/**
 * `kiln run` containers as records under `<root>/containers/<id>/` (state.json, log.json), so a second kiln
 * process (`ps`, `logs`, `stop`, `rm`, `exec`) sees what the first started. The runtime bundle lives beside
 * them in `bundle/` while the container runs (executor.ts).
 */
import { randomInt } from 'node:crypto';
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RootfsHold } from '../cache/container-holds.js';
import type { Mount } from '../cache/types.js';
import { KilnError } from '../errors.js';
import { containerDir } from '../sandbox/executor.js';
import type { SeccompSetting } from '../sandbox/security-opt.js';
import type { ContainerMount, NetworkMode, PortMapping, ProcessSpec } from '../sandbox/types.js';

/** Everything the supervisor needs to start the container: serialisable RunOptions. */
export interface ContainerSpec {
  rootfs: Mount[];
  process: ProcessSpec;
  mounts: ContainerMount[];
  network: NetworkMode;
  hostname?: string;
  ports: PortMapping[];
  limits?: { memoryBytes?: number; cpus?: number; pids?: number };
  readonlyRootfs?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  /** `--security-opt seccomp=…` (a profile file's content is kept here: the file may change or go). */
  seccomp?: SeccompSetting;
  /** `--add-host` lines for /etc/hosts (`ip\tname`). */
  extraHosts?: string[];
}

/** `restarting`: the process exited and its restart policy starts it again after a back-off (State.Restarting). */
export type ContainerStatus = 'created' | 'running' | 'restarting' | 'exited';

export interface ContainerRecord extends RootfsHold {
  id: string;
  name: string;
  /** The image as the user named it, and its ID. */
  image: string;
  imageId: string;
  created: string;
  status: ContainerStatus;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  /** Why the container failed to start (a KilnError code and message). */
  error?: { code: string; message: string; exitCode: number };
  /** Pid of the process supervising it (the foreground kiln or a detached supervisor). */
  pid?: number;
  ip?: string;
  autoRemove: boolean;
  /** The image's STOPSIGNAL (`kiln stop` sends it first); default SIGTERM. */
  stopSignal?: string;
  detached: boolean;
  /** Snapshot key of the rootfs (removed with the container). */
  snapshotKey?: string;
  /** Volumes this container uses; anonymous ones go with `rm -v` and `--rm`. */
  volumes: Array<{ name: string; anonymous: boolean }>;
  /** `--label` / Config.Labels over the image's labels (as dockerd merges them); absent in older records. */
  labels?: Record<string, string>;
  spec: ContainerSpec;
  /**
   * The networks the container joins, by network name (`bridge` for the default one), each with its endpoint;
   * absent in older records (then the default bridge, with `ip` above).
   */
  networks?: Record<string, EndpointRecord>;
  /** `--restart` (absent or `no`: never restarted), how often the supervisor restarted it, and whether a user stopped it. */
  restartPolicy?: RestartPolicy;
  restartCount?: number;
  manuallyStopped?: boolean;
  /** The health check in effect (the image's HEALTHCHECK under `--health-*`), and what it found so far. */
  healthcheck?: HealthcheckConfig;
  health?: HealthState;
  /** Frozen by `pause` (cgroup freezer); `status` stays `running`, as Docker's State.Running does. */
  paused?: boolean;
}

export interface EndpointRecord {
  networkId: string;
  /** 64 hex, made when the container joins. */
  endpointId: string;
  /** `--network-alias` (and compose's service name); the container's name and short id resolve without them. */
  aliases: string[];
  /** `--ip`: the address asked for. */
  ipv4Address?: string;
  /** What it got, once running. */
  ip?: string;
  prefixLen?: number;
  gateway?: string;
  mac?: string;
}

export interface RestartPolicy {
  name: '' | 'no' | 'always' | 'unless-stopped' | 'on-failure';
  maximumRetryCount: number;
}

/** Docker's HealthConfig, durations in nanoseconds (0: the default). `test` is `["NONE"]` when disabled. */
export interface HealthcheckConfig {
  test: string[];
  intervalNs?: number;
  timeoutNs?: number;
  startPeriodNs?: number;
  startIntervalNs?: number;
  retries?: number;
}

export interface HealthState {
  status: 'starting' | 'healthy' | 'unhealthy';
  failingStreak: number;
  /** The last five probes, oldest first (as dockerd keeps). */
  log: Array<{ start: string; end: string; exitCode: number; output: string }>;
}

const ADJ = ['amber', 'brave', 'calm', 'eager', 'fervent', 'gentle', 'happy', 'jolly', 'keen', 'lucid', 'merry', 'nifty', 'quiet', 'swift', 'vivid', 'witty'];
const NOUN = [
  'babbage',
  'curie',
  'darwin',
  'euler',
  'fermi',
  'gauss',
  'hopper',
  'kepler',
  'lovelace',
  'noether',
  'pascal',
  'ritchie',
  'shannon',
  'turing',
  'wozniak',
  'yalow',
];

/** A Docker-style random name (`brave_turing`). */
export function randomName(): string {
  return `${ADJ[randomInt(ADJ.length)]}_${NOUN[randomInt(NOUN.length)]}`;
}

export interface ContainerStore {
  /** Stores a new record; CONTAINER_EXISTS if the name is taken. */
  create(rec: ContainerRecord): Promise<void>;
  /** Merges `patch` into the stored record and returns it. */
  update(id: string, patch: Partial<ContainerRecord>): Promise<ContainerRecord>;
  /** By full id, unique id prefix or name; throws CONTAINER_NOT_FOUND. */
  get(ref: string): Promise<ContainerRecord>;
  list(): Promise<ContainerRecord[]>;
  /** Removes the directory (state, log). */
  remove(id: string): Promise<void>;
  logPath(id: string): string;
}

export function createContainerStore(opts: { root: string }): ContainerStore {
  const root = opts.root;
  const statePath = (id: string) => join(containerDir(root, id), 'state.json');
  async function read(id: string): Promise<ContainerRecord | undefined> {
    try {
      return JSON.parse(await readFile(statePath(id), 'utf8')) as ContainerRecord;
    } catch {
      return undefined;
    }
  }
  async function write(rec: ContainerRecord): Promise<void> {
    const tmp = `${statePath(rec.id)}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(rec, null, 2));
    await rename(tmp, statePath(rec.id));
  }
  async function list(): Promise<ContainerRecord[]> {
    const ids = await readdir(join(root, 'containers')).catch(() => [] as string[]);
    const recs = await Promise.all(ids.map(read));
    return recs.filter((r): r is ContainerRecord => Boolean(r)).sort((a, b) => b.created.localeCompare(a.created));
  }
  return {
    async create(rec) {
      if ((await list()).some((r) => r.name === rec.name)) {
        throw new KilnError('CONTAINER_EXISTS', `the container name "/${rec.name}" is already in use`, {
          hint: 'remove that container (kiln rm) or pick another --name',
        });
      }
      const { mkdir } = await import('node:fs/promises');
      await mkdir(containerDir(root, rec.id), { recursive: true });
      await write(rec);
    },
    async update(id, patch) {
      const cur = await read(id);
      if (!cur) throw new KilnError('CONTAINER_NOT_FOUND', `no such container: ${id}`);
      const next = { ...cur, ...patch };
      await write(next);
      return next;
    },
    async get(ref) {
      const all = await list();
      const exact = all.find((r) => r.id === ref || r.name === ref || r.name === ref.replace(/^\//, ''));
      if (exact) return exact;
      const byPrefix = ref.length >= 1 ? all.filter((r) => r.id.startsWith(ref)) : [];
      if (byPrefix.length === 1) return byPrefix[0]!;
      if (byPrefix.length > 1) throw new KilnError('INVALID_ARGUMENT', `multiple containers match "${ref}"`, { hint: 'give more of the id' });
      throw new KilnError('CONTAINER_NOT_FOUND', `no such container: ${ref}`);
    },
    list,
    async remove(id) {
      await rm(containerDir(root, id), { recursive: true, force: true });
    },
    logPath: (id) => join(containerDir(root, id), 'log.json'),
  };
}

/**
 * The containers created from an image, as Docker's image removal weighs them: one running (a conflict even with
 * force) and one stopped (a conflict unless forced). Records that cannot be read count as none.
 */
export async function containersUsingImage(root: string, imageId: string): Promise<{ running?: ContainerRecord; stopped?: ContainerRecord }> {
  const recs = await createContainerStore({ root })
    .list()
    .catch(() => [] as ContainerRecord[]);
  const using = recs.filter((r) => r.imageId === imageId);
  return {
    running: using.find((r) => r.status === 'running' || r.status === 'restarting'),
    stopped: using.find((r) => r.status !== 'running' && r.status !== 'restarting'),
  };
}
