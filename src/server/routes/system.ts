/** `_ping`, `/version`, `/info`, `/system/df`, `/build/prune`: what the docker CLI asks before anything else. */
import { hostname, cpus, totalmem, release, arch as osArch } from 'node:os';
import { KilnError } from '../../errors.js';
import type { Handler, ServerState } from '../context.js';
import { API_VERSION, MIN_API_VERSION } from '../router.js';
import { sendJson } from '../http-util.js';

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
    Components: [{ Name: 'kiln', Version: state.version, Details: { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION } }],
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
    Plugins: { Volume: [], Network: [], Authorization: null, Log: [] },
    MemoryLimit: true,
    SwapLimit: false,
    CpuCfsPeriod: true,
    CpuCfsQuota: true,
    IPv4Forwarding: true,
    Debug: false,
    NFd: 0,
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
    RegistryConfig: { IndexConfigs: {}, InsecureRegistryCIDRs: ['127.0.0.0/8'], Mirrors: [] },
    NCPU: cpus().length,
    MemTotal: totalmem(),
    DockerRootDir: '',
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
    SecurityOptions: [],
    Warnings: [],
    KilnBuilds: { Running: state.builds.running, Queued: state.builds.queued },
  };
}

export const systemDf: Handler = async ({ res, state, signal }) => {
  if (!state.backend.system) throw new KilnError('NOT_IMPLEMENTED', 'disk usage is not available on this server');
  const df = await state.backend.system.df({ signal });
  const volumes = (await state.backend.volumes?.usage?.()) ?? [];
  sendJson(res, 200, { ...df, Containers: [], Volumes: volumes });
};

export const buildPrune: Handler = async ({ res, state, query, signal }) => {
  if (!state.backend.system) throw new KilnError('NOT_IMPLEMENTED', 'pruning is not available on this server');
  const out = await state.backend.system.pruneBuildCache({ all: query.bool('all'), signal });
  sendJson(res, 200, out);
};
