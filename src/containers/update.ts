/**
 * `docker update`: changes a container's memory, CPU and pids limits and its restart policy. A running
 * container gets the new limits at once (`runc update`); the record's spec keeps them, so its next start has
 * them too. What kiln cannot apply (CPU shares, cpusets, block I/O weights, a swap limit…) is refused with the
 * option's name, never dropped.
 */
import { cpus } from 'node:os';
import { KilnError } from '../errors.js';
import { RUNC, runcArgs } from '../sandbox/runc.js';
import { tool } from '../sandbox/tool.js';
import { emitContainerEvent } from './container-events.js';
import { createContainerStore, type ContainerRecord, type RestartPolicy } from './containers.js';

/** Docker's UpdateConfig (Resources and RestartPolicy), as `POST /containers/{id}/update` sends it. */
export type UpdateConfig = Record<string, unknown>;

/** Fields kiln cannot apply, with the `docker update` option that sets them; accepted only at their zero value. */
const UNSUPPORTED: Record<string, string> = {
  CpuShares: '--cpu-shares',
  CgroupParent: '--cgroup-parent',
  BlkioWeight: '--blkio-weight',
  BlkioWeightDevice: '--blkio-weight-device',
  BlkioDeviceReadBps: '--device-read-bps',
  BlkioDeviceWriteBps: '--device-write-bps',
  BlkioDeviceReadIOps: '--device-read-iops',
  BlkioDeviceWriteIOps: '--device-write-iops',
  CpuPeriod: '--cpu-period',
  CpuQuota: '--cpu-quota',
  CpuRealtimePeriod: '--cpu-rt-period',
  CpuRealtimeRuntime: '--cpu-rt-runtime',
  CpusetCpus: '--cpuset-cpus',
  CpusetMems: '--cpuset-mems',
  Devices: '--device',
  DeviceCgroupRules: '--device-cgroup-rule',
  DeviceRequests: '--gpus',
  KernelMemory: '--kernel-memory',
  KernelMemoryTCP: '--kernel-memory-tcp',
  MemoryReservation: '--memory-reservation',
  MemorySwappiness: '--memory-swappiness',
  OomKillDisable: '--oom-kill-disable',
  Ulimits: '--ulimit',
  CpuCount: '--cpu-count',
  CpuPercent: '--cpu-percent',
  IOMaximumIOps: '--io-maxiops',
  IOMaximumBandwidth: '--io-maxbandwidth',
};
const SUPPORTED = ['Memory', 'MemorySwap', 'NanoCpus', 'PidsLimit', 'RestartPolicy'];
const MIN_MEMORY = 6 * 1024 * 1024; // dockerd's minimum

/** What an update changes: limits (null: remove the limit) and the restart policy. */
export interface ContainerUpdate {
  memoryBytes?: number;
  cpus?: number;
  pids?: number | null;
  restartPolicy?: RestartPolicy;
}

function isZero(v: unknown): boolean {
  return v === undefined || v === null || v === 0 || v === '' || v === false || (Array.isArray(v) && v.length === 0);
}

function integer(v: unknown, field: string, option: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new KilnError('INVALID_ARGUMENT', `${option}: ${field} must be an integer`);
  return v;
}

/** `no`, `always`, `unless-stopped`, `on-failure` (with a retry count only there), as dockerd validates them. */
export function checkRestartPolicy(p: unknown): RestartPolicy | undefined {
  if (isZero(p)) return undefined;
  if (typeof p !== 'object' || Array.isArray(p)) throw new KilnError('INVALID_ARGUMENT', '--restart: RestartPolicy must be an object');
  const { Name, MaximumRetryCount } = p as { Name?: unknown; MaximumRetryCount?: unknown };
  const retries = MaximumRetryCount === undefined || MaximumRetryCount === null ? 0 : integer(MaximumRetryCount, 'MaximumRetryCount', '--restart');
  if (Name === undefined || Name === '') {
    if (retries) throw new KilnError('INVALID_ARGUMENT', `--restart: a maximum retry count needs the on-failure policy`);
    return undefined;
  }
  if (Name !== 'no' && Name !== 'always' && Name !== 'unless-stopped' && Name !== 'on-failure')
    throw new KilnError(
      'INVALID_ARGUMENT',
      `invalid restart policy ${JSON.stringify(String(Name).slice(0, 40))}: no, always, unless-stopped or on-failure[:N]`,
    );
  if (retries < 0) throw new KilnError('INVALID_ARGUMENT', `invalid restart policy: maximum retry count cannot be negative`);
  if (retries && Name !== 'on-failure')
    throw new KilnError('INVALID_ARGUMENT', `invalid restart policy: maximum retry count cannot be used with restart policy '${Name}'`);
  return { name: Name, maximumRetryCount: retries };
}

/**
 * Validates an UpdateConfig into what kiln applies. INVALID_ARGUMENT names the option of an unknown, unsupported
 * or out-of-range field; zero values mean "unchanged", as dockerd reads them.
 */
export function parseUpdate(body: UpdateConfig): ContainerUpdate {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new KilnError('INVALID_ARGUMENT', 'a JSON update config is required');
  const out: ContainerUpdate = {};
  for (const [field, v] of Object.entries(body)) {
    if (SUPPORTED.includes(field)) continue;
    const option = UNSUPPORTED[field];
    if (!option) throw new KilnError('INVALID_ARGUMENT', `update: unknown field ${JSON.stringify(field.slice(0, 60))}`);
    if (!isZero(v) && !(field === 'MemorySwappiness' && v === -1))
      throw new KilnError('NOT_IMPLEMENTED', `${option} is not supported by kiln's docker update`, {
        hint: 'kiln updates --memory, --cpus, --pids-limit and --restart',
      });
  }
  if (!isZero(body.Memory)) {
    const m = integer(body.Memory, 'Memory', '--memory');
    if (m < MIN_MEMORY) throw new KilnError('INVALID_ARGUMENT', '--memory: the minimum memory limit allowed is 6MB');
    out.memoryBytes = m;
  }
  if (!isZero(body.MemorySwap) && body.MemorySwap !== -1)
    throw new KilnError('NOT_IMPLEMENTED', '--memory-swap is not supported by kiln (only -1, unlimited swap)');
  if (!isZero(body.NanoCpus)) {
    const n = integer(body.NanoCpus, 'NanoCpus', '--cpus');
    const max = cpus().length;
    if (n < 1e7 || n > max * 1e9)
      throw new KilnError('INVALID_ARGUMENT', `--cpus: range of CPUs is from 0.01 to ${max}.00, as there are only ${max} CPUs available`);
    out.cpus = n / 1e9;
  }
  if (body.PidsLimit !== undefined && body.PidsLimit !== null) {
    const p = integer(body.PidsLimit, 'PidsLimit', '--pids-limit');
    out.pids = p > 0 ? p : null; // 0 and -1: unlimited, as dockerd
  }
  const policy = checkRestartPolicy(body.RestartPolicy);
  if (policy) out.restartPolicy = policy;
  return out;
}

/** The runc update flags for a change (only what changes). */
export function runcUpdateArgs(u: ContainerUpdate): string[] {
  const a: string[] = [];
  if (u.memoryBytes !== undefined) a.push('--memory', String(u.memoryBytes));
  if (u.cpus !== undefined) a.push('--cpu-period', '100000', '--cpu-quota', String(Math.round(u.cpus * 100_000)));
  if (u.pids !== undefined) a.push('--pids-limit', String(u.pids ?? -1));
  return a;
}

/**
 * Applies `u` to container `rec`: `runc update` when it runs (RUNTIME_FAILED if the kernel refuses, the record
 * unchanged then), then the record. A restart policy on an auto-removed container is refused, as dockerd.
 */
export async function updateContainer(root: string, rec: ContainerRecord, u: ContainerUpdate): Promise<ContainerRecord> {
  if (u.restartPolicy && u.restartPolicy.name !== 'no' && rec.autoRemove)
    throw new KilnError('INVALID_ARGUMENT', 'Restart policy cannot be updated because AutoRemove is enabled for the container');
  const args = runcUpdateArgs(u);
  if (args.length && rec.status === 'running') {
    const r = await tool(RUNC, [...runcArgs(root), 'update', ...args, rec.id]);
    if (r.code !== 0) throw new KilnError('RUNTIME_FAILED', `Cannot update container ${rec.id}: ${r.stderr.trim().slice(0, 300)}`);
  }
  const limits = { ...(rec.spec.limits ?? {}) };
  if (u.memoryBytes !== undefined) limits.memoryBytes = u.memoryBytes;
  if (u.cpus !== undefined) limits.cpus = u.cpus;
  if (u.pids !== undefined) {
    if (u.pids === null) delete limits.pids;
    else limits.pids = u.pids;
  }
  const next = await createContainerStore({ root }).update(rec.id, {
    spec: { ...rec.spec, limits },
    ...(u.restartPolicy ? { restartPolicy: u.restartPolicy } : {}),
  });
  emitContainerEvent(root, next, 'update');
  return next;
}
