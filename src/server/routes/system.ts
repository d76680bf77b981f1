/** `_ping`, `/version`, `/info`, `/system/df`, `/build/prune`: what the docker CLI asks before anything else. */
import { parseFilters, parseTimestamp } from '../filters.js';
import { readFileSync } from 'node:fs';
import { hostname, cpus, totalmem, release, arch as osArch } from 'node:os';
import { KilnError } from '../../errors.js';
import type { Handler, ServerState } from '../context.js';
import { API_VERSION, MIN_API_VERSION } from '../router.js';
import { sendJson } from '../http-util.js';
import { forApiVersion } from '../image-shapes.js';

/** Headers dockerd puts on every `_ping`; `Builder-Version: 1` steers the CLI to the legacy build protocol. */
function pingHeaders(): Record<string, string> {
  return {
    'Api-Version': API_VERSION,
    OSType: 'linux',
    'Docker-Experimental': 'false',
    'Builder-Version': '1',
    'Cache-Control': 'no-cache, no-store, must-revalidate',
    Pragma: 'no-cache',
  };
}

export const ping: Handler = async ({ req, res }) => {
  const body = req.method === 'HEAD' ? '' : 'OK';
  res.writeHead(200, { ...pingHeaders(), 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)) });
  res.end(body);
};

function goArch(): string {
  const a = osArch();
  return a === 'x64' ? 'amd64' : a === 'ia32' ? '386' : a;
}

export const version: Handler = async ({ res, state }) => {
  sendJson(res, 200, {
    Platform: { Name: 'kiln' },
    // dockerd's Engine component, with its Details keys (the docker CLI prints them under "Engine:").
    Components: [
      {
        Name: 'Engine',
        Version: state.version,
        Details: {
          ApiVersion: API_VERSION,
          Arch: goArch(),
          BuildTime: '',
          Experimental: 'false',
          GitCommit: 'kiln',
          GoVersion: `node${process.versions.node}`,
          KernelVersion: release(),
          MinAPIVersion: MIN_API_VERSION,
          Os: 'linux',
        },
      },
    ],
    Version: state.version,
    ApiVersion: API_VERSION,
    MinAPIVersion: MIN_API_VERSION,
    GitCommit: 'kiln',
    GoVersion: `node${process.versions.node}`,
    Os: 'linux',
    Arch: goArch(),
    KernelVersion: release(),
    BuildTime: '',
  });
};

export const info: Handler = async ({ res, state }) => {
  const images = await state.backend.images.list().catch(() => []);
  const containers = (await state.backend.containers?.list({ all: true }).catch(() => [])) ?? [];
  sendJson(res, 200, serverInfo(state, images.length, containers));
};

function serverInfo(state: ServerState, images: number, containers: Array<{ State: string }>) {
  const running = containers.filter((c) => c.State === 'running').length;
  return {
    ID: 'kiln',
    Containers: containers.length,
    ContainersRunning: running,
    ContainersPaused: 0,
    ContainersStopped: containers.length - running,
    Images: images,
    Driver: 'overlayfs',
    DriverStatus: [],
    // The drivers kiln has: local volumes, its bridge (kiln0), host and none networks, json-file logs.
    Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'null'], Authorization: null, Log: ['json-file'] },
    MemoryLimit: true,
    SwapLimit: false,
    // What `docker run` options kiln honours: --memory, --cpus, --pids-limit; not kernel memory, shares, cpusets.
    KernelMemory: false,
    KernelMemoryTCP: false,
    CpuCfsPeriod: true,
    CpuCfsQuota: true,
    CPUShares: false,
    CPUSet: false,
    PidsLimit: true,
    IPv4Forwarding: true,
    BridgeNfIptables: procFlag('/proc/sys/net/bridge/bridge-nf-call-iptables'),
    BridgeNfIp6tables: procFlag('/proc/sys/net/bridge/bridge-nf-call-ip6tables'),
    Debug: false,
    NFd: 0,
    OomKillDisable: false,
    NGoroutines: 0,
    SystemTime: new Date().toISOString(),
    LoggingDriver: 'json-file',
    CgroupDriver: 'cgroupfs',
    CgroupVersion: '1',
    NEventsListener: 0,
    KernelVersion: release(),
    OperatingSystem: 'kiln',
    OSVersion: '',
    OSType: 'linux',
    Architecture: goArch(),
    IndexServerAddress: 'https://index.docker.io/v1/',
    RegistryConfig: {
      AllowNondistributableArtifactsCIDRs: [],
      AllowNondistributableArtifactsHostnames: [],
      InsecureRegistryCIDRs: ['127.0.0.0/8'],
      IndexConfigs: {},
      Mirrors: [],
    },
    NCPU: cpus().length,
    MemTotal: totalmem(),
    GenericResources: null,
    DockerRootDir: '',
    // The proxies the server runs with (builds inherit them), credentials masked as dockerd masks them.
    HttpProxy: maskProxy(process.env.HTTP_PROXY ?? process.env.http_proxy),
    HttpsProxy: maskProxy(process.env.HTTPS_PROXY ?? process.env.https_proxy),
    NoProxy: process.env.NO_PROXY ?? process.env.no_proxy ?? '',
    Name: hostname(),
    Labels: [],
    ExperimentalBuild: false,
    ServerVersion: state.version,
    Runtimes: { runc: { path: 'runc' } },
    DefaultRuntime: 'runc',
    Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
    LiveRestoreEnabled: false,
    Isolation: '',
    InitBinary: '',
    // kiln runs runc itself: no containerd, no docker-init; their commits are unknown (Docker's empty Commit).
    ContainerdCommit: { ID: '', Expected: '' },
    RuncCommit: { ID: '', Expected: '' },
    InitCommit: { ID: '', Expected: '' },
    SecurityOptions: [],
    Warnings: [],
    KilnBuilds: { Running: state.builds.running, Queued: state.builds.queued },
  };
}

/** A boolean /proc/sys setting ("1"); false when absent (the module not loaded). */
function procFlag(path: string): boolean {
  try {
    return readFileSync(path, 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

/** A proxy URL with its user and password replaced by `xxxxx`, as dockerd's info shows it. */
function maskProxy(url: string | undefined): string {
  if (!url) return '';
  try {
    const u = new URL(url);
    if (u.username) u.username = 'xxxxx';
    if (u.password) u.password = 'xxxxx';
    return u.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//xxxxx:xxxxx@');
  }
}

export const systemDf: Handler = async ({ res, state, signal, apiVersion }) => {
  if (!state.backend.system) throw new KilnError('NOT_IMPLEMENTED', 'disk usage is not available on this server');
  const df = await state.backend.system.df({ signal });
  const images = df.Images.map((i) => forApiVersion(i, apiVersion));
  // BuilderSize: API 1.41's total of the build cache (deprecated in 1.42, still answered by dockerd 20.10).
  const builderSize = (df.BuildCache as Array<{ Size?: number }>).reduce((n, b) => n + (b.Size ?? 0), 0);
  sendJson(res, 200, {
    LayersSize: df.LayersSize,
    Images: images,
    Containers: df.Containers ?? [],
    // The volume backend's rows: the same shape as `GET /volumes/{name}`, with UsageData.
    Volumes: (await state.backend.volumes?.usage?.()) ?? [],
    BuildCache: df.BuildCache,
    BuilderSize: builderSize,
  });
};

export const buildPrune: Handler = async ({ res, state, query, signal }) => {
  if (!state.backend.system) throw new KilnError('NOT_IMPLEMENTED', 'pruning is not available on this server');
  // `docker builder prune [-a] [--keep-storage N] [--filter until=…]`; BuildKit's other filters (id, parent, type,
  // description, inuse, shared, private) select records kiln does not keep in that shape: refused, never ignored.
  const filters = parseFilters(query.str('filters'));
  for (const key of filters.keys()) {
    if (key !== 'until' && key !== 'unused-for')
      throw new KilnError('NOT_IMPLEMENTED', `docker builder prune --filter ${key} is not supported by kiln serve`, { hint: 'until= is' });
  }
  const untilValues = [...(filters.get('until') ?? []), ...(filters.get('unused-for') ?? [])];
  if (untilValues.length > 1) throw new KilnError('INVALID_ARGUMENT', 'more than one until filter specified');
  let until: Date | undefined;
  if (untilValues.length) {
    const t = parseTimestamp(untilValues[0]!);
    if (t === undefined) throw new KilnError('INVALID_ARGUMENT', `invalid filter 'until=${untilValues[0]}'`);
    until = new Date(t);
  }
  const keepRaw = query.str('keep-storage');
  if (keepRaw !== undefined && keepRaw !== '' && !/^\d+$/.test(keepRaw))
    throw new KilnError('INVALID_ARGUMENT', `keep-storage ${JSON.stringify(keepRaw)}: bytes expected`);
  const keepStorage = keepRaw && Number(keepRaw) > 0 ? Number(keepRaw) : undefined;
  for (const p of ['reserved-space', 'max-used-space', 'min-free-space']) {
    const v = query.str(p);
    if (v !== undefined && v !== '' && v !== '0')
      throw new KilnError('NOT_IMPLEMENTED', `docker builder prune --${p} is not supported by kiln serve`, { hint: 'use --keep-storage' });
  }
  const out = await state.backend.system.pruneBuildCache({ all: query.bool('all'), until, keepStorage, signal });
  sendJson(res, 200, out);
};
