/**
 * `docker stats`: one sample of a container's resource use in dockerd's StatsJSON shape (api/types/stats.go).
 * Counters come from `runc events --stats` (runc reads the cgroup, v1 or v2, so kiln has one reader for both),
 * the host's CPU time from /proc/stat (dockerd's system_cpu_usage: the first seven fields of the `cpu` line, in
 * nanoseconds), and the network counters from /proc/<init pid>/net/dev, which shows the container's own network
 * namespace. `memory_stats.stats` passes the cgroup's memory.stat keys through: v1 names on a v1 host
 * (`total_inactive_file`…), v2 names on a v2 host (`inactive_file`…), as dockerd's, and the docker CLI reads either.
 */
import { readFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { KilnError } from '../errors.js';
import { RUNC, runcArgs, runcState } from '../sandbox/runc.js';
import { tool } from '../sandbox/tool.js';
import { createContainerStore, type ContainerRecord } from './containers.js';

/** Docker's zero time, which `read`/`preread` carry when there is no sample. */
const ZERO_TIME = '0001-01-01T00:00:00Z';
const CLOCK_TICKS = 100; // USER_HZ on Linux (sysconf(_SC_CLK_TCK)), as dockerd assumes

export interface CpuStats {
  cpu_usage: { total_usage: number; percpu_usage?: number[]; usage_in_kernelmode: number; usage_in_usermode: number };
  system_cpu_usage: number;
  online_cpus: number;
  throttling_data: { periods: number; throttled_periods: number; throttled_time: number };
}

interface BlkioEntry {
  major: number;
  minor: number;
  op: string;
  value: number;
}

export interface NetworkStats {
  rx_bytes: number;
  rx_packets: number;
  rx_errors: number;
  rx_dropped: number;
  tx_bytes: number;
  tx_packets: number;
  tx_errors: number;
  tx_dropped: number;
}

export interface ContainerStats {
  read: string;
  preread: string;
  pids_stats: { current?: number; limit?: number };
  blkio_stats: Record<string, BlkioEntry[] | null>;
  num_procs: number;
  storage_stats: Record<string, never>;
  cpu_stats: CpuStats;
  precpu_stats: CpuStats;
  memory_stats: { usage?: number; max_usage?: number; failcnt?: number; stats?: Record<string, number>; limit?: number };
  name: string;
  id: string;
  networks?: Record<string, NetworkStats>;
}

const BLKIO_KEYS = [
  'io_service_bytes_recursive',
  'io_serviced_recursive',
  'io_queue_recursive',
  'io_service_time_recursive',
  'io_wait_time_recursive',
  'io_merged_recursive',
  'io_time_recursive',
  'sectors_recursive',
];

function zeroCpu(): CpuStats {
  return {
    cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 },
    system_cpu_usage: 0,
    online_cpus: 0,
    throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
  };
}

/** dockerd's answer for a container that is not running: its name and id, everything else zero. */
export function emptyStats(rec: Pick<ContainerRecord, 'id' | 'name'>): ContainerStats {
  return {
    read: ZERO_TIME,
    preread: ZERO_TIME,
    pids_stats: {},
    blkio_stats: Object.fromEntries(BLKIO_KEYS.map((k) => [k, null])),
    num_procs: 0,
    storage_stats: {},
    cpu_stats: zeroCpu(),
    precpu_stats: zeroCpu(),
    memory_stats: {},
    name: `/${rec.name}`,
    id: rec.id,
  };
}

/** The host's CPU time in nanoseconds (/proc/stat's `cpu` line, user to softirq). */
export function systemCpuUsage(procStat: string): number {
  const line = procStat.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return 0;
  const ticks = line
    .trim()
    .split(/\s+/)
    .slice(1, 8)
    .reduce((sum, f) => sum + Number(f), 0);
  return (ticks * 1e9) / CLOCK_TICKS;
}

/** /proc/<pid>/net/dev → per-interface counters, the loopback left out (as dockerd's). */
export function parseNetDev(text: string): Record<string, NetworkStats> {
  const out: Record<string, NetworkStats> = {};
  for (const line of text.split('\n').slice(2)) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const name = line.slice(0, i).trim();
    if (!name || name === 'lo') continue;
    const f = line
      .slice(i + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    out[name] = {
      rx_bytes: f[0]!,
      rx_packets: f[1]!,
      rx_errors: f[2]!,
      rx_dropped: f[3]!,
      tx_bytes: f[8]!,
      tx_packets: f[9]!,
      tx_errors: f[10]!,
      tx_dropped: f[11]!,
    };
  }
  return out;
}

/** runc's `events --stats` data (libcontainer/intelset types), the parts read here. */
interface RuncStats {
  cpu?: {
    usage?: { total?: number; percpu?: number[]; kernel?: number; user?: number };
    throttling?: { periods?: number; throttledPeriods?: number; throttledTime?: number };
  };
  memory?: { usage?: { usage?: number; max?: number; failcnt?: number; limit?: number }; raw?: Record<string, number> };
  pids?: { current?: number; limit?: number };
  blkio?: Record<string, Array<{ major?: number; minor?: number; op?: string; value?: number }> | undefined>;
}

const RUNC_BLKIO: Record<string, string> = {
  io_service_bytes_recursive: 'ioServiceBytesRecursive',
  io_serviced_recursive: 'ioServicedRecursive',
  io_queue_recursive: 'ioQueueRecursive',
  io_service_time_recursive: 'ioServiceTimeRecursive',
  io_wait_time_recursive: 'ioWaitTimeRecursive',
  io_merged_recursive: 'ioMergedRecursive',
  io_time_recursive: 'ioTimeRecursive',
  sectors_recursive: 'sectorsRecursive',
};

/** Everything of one sample but `precpu_stats`/`preread` (the previous sample's, filled in by the caller). */
export function toStats(
  rec: Pick<ContainerRecord, 'id' | 'name'>,
  d: RuncStats,
  o: { read: Date; systemCpu: number; networks?: Record<string, NetworkStats> },
): ContainerStats {
  const s = emptyStats(rec);
  s.read = o.read.toISOString();
  const u = d.cpu?.usage ?? {};
  const t = d.cpu?.throttling ?? {};
  s.cpu_stats = {
    cpu_usage: {
      total_usage: u.total ?? 0,
      ...(u.percpu?.length ? { percpu_usage: u.percpu } : {}),
      usage_in_kernelmode: u.kernel ?? 0,
      usage_in_usermode: u.user ?? 0,
    },
    system_cpu_usage: o.systemCpu,
    online_cpus: u.percpu?.length || cpus().length,
    throttling_data: { periods: t.periods ?? 0, throttled_periods: t.throttledPeriods ?? 0, throttled_time: t.throttledTime ?? 0 },
  };
  const m = d.memory?.usage ?? {};
  // No limit reads as the largest page-aligned int64 (v1) or nothing (v2): the host's memory then, as dockerd.
  const limit = m.limit && m.limit < totalmem() ? m.limit : totalmem();
  s.memory_stats = { usage: m.usage ?? 0, ...(m.max ? { max_usage: m.max, failcnt: m.failcnt ?? 0 } : {}), stats: { ...(d.memory?.raw ?? {}) }, limit };
  s.pids_stats = { current: d.pids?.current ?? 0, ...(d.pids?.limit ? { limit: d.pids.limit } : {}) };
  for (const [key, runcKey] of Object.entries(RUNC_BLKIO)) {
    const list = d.blkio?.[runcKey];
    s.blkio_stats[key] = list?.length ? list.map((e) => ({ major: e.major ?? 0, minor: e.minor ?? 0, op: e.op ?? '', value: e.value ?? 0 })) : null;
  }
  if (o.networks) s.networks = o.networks;
  return s;
}

/**
 * One sample of running container `rec`. CONTAINER_RUNNING (409) when runc no longer knows it (it stopped);
 * `networks` is left out for `--network host` (the host's counters are not the container's).
 */
export async function sampleStats(root: string, rec: ContainerRecord): Promise<ContainerStats> {
  const [ev, state, procStat] = await Promise.all([
    tool(RUNC, [...runcArgs(root), 'events', '--stats', rec.id]),
    runcState(root, rec.id),
    readFile('/proc/stat', 'utf8').catch(() => ''),
  ]);
  if (ev.code !== 0 || !state) throw new KilnError('CONTAINER_RUNNING', `container ${rec.id} is not running`);
  let data: RuncStats;
  try {
    data = (JSON.parse(ev.stdout) as { data?: RuncStats }).data ?? {};
  } catch {
    throw new KilnError('RUNTIME_FAILED', `runc events --stats ${rec.id.slice(0, 12)}: output is not JSON`);
  }
  let networks: Record<string, NetworkStats> | undefined;
  if (rec.spec.network !== 'host' && state.pid > 0) {
    // The init's view of /proc/net is its network namespace's; the pid is runc's, not the container's word.
    const text = await readFile(`/proc/${state.pid}/net/dev`, 'utf8').catch(() => '');
    networks = parseNetDev(text);
  }
  return toStats(rec, data, { read: new Date(), systemCpu: systemCpuUsage(procStat), networks });
}

/** Fills `next`'s previous-sample fields from `prev` (dockerd's precpu_stats and preread). */
export function withPrevious(next: ContainerStats, prev: ContainerStats | undefined): ContainerStats {
  if (prev) {
    next.precpu_stats = prev.cpu_stats;
    next.preread = prev.read;
  }
  return next;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });
}

/**
 * `GET /containers/{ref}/stats`. Without `stream`: one sample, whose precpu_stats is a baseline taken a second
 * before (so the CLI's CPU % means something; `oneShot` skips it, leaving precpu zero, as dockerd); a container
 * that is not running answers emptyStats. With `stream`: a sample a second until the container stops or
 * `signal` aborts. CONTAINER_NOT_FOUND for an unknown `ref`.
 */
export async function containerStats(
  root: string,
  ref: string,
  o: { stream: boolean; oneShot?: boolean; signal?: AbortSignal },
  send: (s: ContainerStats) => Promise<void>,
): Promise<void> {
  const store = createContainerStore({ root });
  const rec = await store.get(ref);
  if (rec.status !== 'running') return send(emptyStats(rec));
  if (!o.stream) {
    const baseline = o.oneShot ? undefined : await sampleStats(root, rec).catch(() => undefined);
    if (baseline) await sleep(1000, o.signal);
    return send(
      await sampleStats(root, rec).then(
        (s) => withPrevious(s, baseline),
        () => emptyStats(rec),
      ),
    );
  }
  let prev: ContainerStats | undefined;
  while (!o.signal?.aborted) {
    const cur = await store.get(rec.id).catch(() => undefined);
    if (!cur || cur.status !== 'running') break;
    const s = await sampleStats(root, cur).catch(() => undefined);
    if (!s) break;
    await send(withPrevious(s, prev));
    prev = s;
    await sleep(1000, o.signal);
  }
}
