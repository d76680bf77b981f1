/**
 * Docker's JSON for a container record: the `GET /containers/json` row and the `GET /containers/{id}/json`
 * document, key for key as dockerd 20.10 answers (test/fixtures/dockerd-20.10/, checked by
 * test/integration/server/recorded-shapes.test.ts). Fields kiln has no notion of carry Docker's zero values
 * ("" / 0 / false / null), never a different type, so clients that decode into Docker's Go types keep working.
 */
import { MASKED_PATHS, READONLY_PATHS } from '../sandbox/spec.js';
import type { EndpointSettings } from '../containers/container-networks.js';
import { join } from 'node:path';
import type { ContainerRecord, EndpointRecord } from '../containers/containers.js';
import { bundleDir, containerDir } from '../sandbox/executor.js';
import type { PortMapping } from '../sandbox/types.js';
import type { ContainerSummary } from './backend.js';
import { statusText } from '../containers/container-status.js';

/** Go's zero time, which dockerd prints for a StartedAt/FinishedAt that never happened. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';
/** kiln0's gateway and prefix (src/sandbox/bridge.ts), for records made before `networks` existed. */
const BRIDGE_GATEWAY = '10.89.0.1';
const BRIDGE_PREFIX = 16;

/** What the shapes need besides the record: found by the backend (image config, sizes). */
export interface ShapeInputs {
  /** The state root (paths in inspect point into it, as dockerd's point into /var/lib/docker). */
  root: string;
  /** The image's Entrypoint, to split the record's argv back into Entrypoint and Cmd. */
  imageEntrypoint?: string[] | null;
  /** The image's ExposedPorts. */
  imageExposedPorts?: Record<string, object>;
  /** With `size=1`: bytes in the writable layer and the image's size. */
  sizes?: { rw: number; rootFs: number };
  /** NetworkSettings.Networks as the networks layer words them (network ids, the short-id alias compose reads). */
  networks?: Record<string, EndpointSettings>;
}

/** Docker's `State` words, with kiln's paused flag (status stays `running` while frozen). */
function stateWord(rec: ContainerRecord): string {
  if (rec.status === 'running' && rec.paused) return 'paused';
  return rec.status;
}

/** The network the container's HostConfig.NetworkMode names: its first user network, or the mode it runs in. */
export function networkMode(rec: ContainerRecord): string {
  const names = Object.keys(rec.networks ?? {});
  if (names.length) return names[0]!;
  const n = rec.spec.network;
  // A joined namespace is a run-time setting, never stored; a record holds one of the named modes.
  return n === 'host' || n === 'none' ? n : 'default';
}

/** One EndpointSettings (api/types/network), Docker's zero values where kiln has nothing. */
function endpoint(e: Partial<EndpointRecord>, running: boolean): EndpointSettings {
  return {
    IPAMConfig: e.ipv4Address ? { IPv4Address: e.ipv4Address } : null,
    Links: null,
    Aliases: e.aliases?.length ? [...e.aliases] : null,
    NetworkID: e.networkId ?? '',
    EndpointID: running ? (e.endpointId ?? '') : '',
    Gateway: running ? (e.gateway ?? '') : '',
    IPAddress: running ? (e.ip ?? '') : '',
    IPPrefixLen: running && e.ip ? (e.prefixLen ?? 0) : 0,
    IPv6Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    MacAddress: running ? (e.mac ?? '') : '',
    DriverOpts: null,
  };
}

/** NetworkSettings.Networks: the record's endpoints, else the one network its mode names (kiln0 with `ip`). */
export function networksOf(rec: ContainerRecord): Record<string, ReturnType<typeof endpoint>> {
  // As dockerd's SetRestarting: a container waiting to restart is Running and Restarting.
  const running = rec.status === 'running' || rec.status === 'restarting';
  const out: Record<string, ReturnType<typeof endpoint>> = {};
  if (rec.networks && Object.keys(rec.networks).length) {
    for (const [name, e] of Object.entries(rec.networks)) out[name] = endpoint(e, running);
    return out;
  }
  const mode = rec.spec.network;
  if (mode === 'none' || mode === 'host') out[mode] = endpoint({}, running);
  else out.bridge = endpoint({ ip: rec.ip, gateway: rec.ip ? BRIDGE_GATEWAY : undefined, prefixLen: BRIDGE_PREFIX }, running);
  return out;
}

/** Docker's MountPoint list: named volumes (kiln's live under `<root>/volumes/<name>/_data`), binds, tmpfs. */
export function mountsOf(rec: ContainerRecord, root: string) {
  const volumeDir = join(root, 'volumes');
  return (rec.spec.mounts ?? []).map((m) => {
    const rw = !m.readonly;
    if (m.type === 'bind' && m.source) {
      const vol = rec.volumes.find((v) => m.source === join(volumeDir, v.name, '_data'));
      if (vol) return { Type: 'volume', Name: vol.name, Source: m.source, Destination: m.target, Driver: 'local', Mode: 'z', RW: rw, Propagation: '' };
      return { Type: 'bind', Source: m.source, Destination: m.target, Mode: m.readonly ? 'ro' : '', RW: rw, Propagation: 'rprivate' };
    }
    return { Type: 'tmpfs', Source: '', Destination: m.target, Mode: '', RW: rw, Propagation: '' };
  });
}

/** Docker's PortMap (`{"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}`, what `docker port` reads). */
export function portMap(ports: PortMapping[] | undefined): Record<string, Array<{ HostIp: string; HostPort: string }>> {
  const out: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const p of ports ?? []) (out[`${p.containerPort}/${p.protocol ?? 'tcp'}`] ??= []).push({ HostIp: p.hostIp ?? '0.0.0.0', HostPort: String(p.hostPort) });
  return out;
}

/** The argv split back into Docker's Entrypoint and Cmd: the image's Entrypoint when the argv starts with it. */
function entrypointAndCmd(args: string[], imageEntrypoint: string[] | null | undefined): { entrypoint: string[] | null; cmd: string[] | null } {
  const ep = imageEntrypoint ?? [];
  if (ep.length && ep.every((a, i) => args[i] === a)) {
    const rest = args.slice(ep.length);
    return { entrypoint: [...ep], cmd: rest.length ? rest : null };
  }
  return { entrypoint: null, cmd: [...args] };
}

/** The `GET /containers/json` row (types.Container); SizeRw/SizeRootFs only with `size=1`, as dockerd. */
export function containerSummary(rec: ContainerRecord, inputs: ShapeInputs): ContainerSummary {
  return {
    Id: rec.id,
    Names: [`/${rec.name}`],
    Image: rec.image,
    ImageID: rec.imageId,
    Command: rec.spec.process.args.join(' '),
    Created: Math.floor(Date.parse(rec.created) / 1000),
    Ports: (rec.spec.ports ?? []).map((p) => ({ IP: p.hostIp ?? '0.0.0.0', PrivatePort: p.containerPort, PublicPort: p.hostPort, Type: p.protocol ?? 'tcp' })),
    // dockerd leaves SizeRw out when it is 0 (omitempty); SizeRootFs is there whenever sizes were asked for.
    ...(inputs.sizes && inputs.sizes.rw > 0 ? { SizeRw: inputs.sizes.rw } : {}),
    ...(inputs.sizes ? { SizeRootFs: inputs.sizes.rootFs } : {}),
    Labels: { ...(rec.labels ?? {}) },
    State: stateWord(rec),
    Status: statusText(rec),
    HostConfig: { NetworkMode: networkMode(rec) },
    NetworkSettings: { Networks: inputs.networks ?? networksOf(rec) },
    Mounts: mountsOf(rec, inputs.root),
  };
}

/** Docker's HealthConfig (durations in ns) for Config.Healthcheck. */
function healthConfig(rec: ContainerRecord) {
  const h = rec.healthcheck;
  if (!h) return {};
  return {
    Healthcheck: {
      Test: [...h.test],
      ...(h.intervalNs ? { Interval: h.intervalNs } : {}),
      ...(h.timeoutNs ? { Timeout: h.timeoutNs } : {}),
      ...(h.startPeriodNs ? { StartPeriod: h.startPeriodNs } : {}),
      ...(h.startIntervalNs ? { StartInterval: h.startIntervalNs } : {}),
      ...(h.retries ? { Retries: h.retries } : {}),
    },
  };
}

/** State.Health (only when a health check is in effect, as dockerd). */
function healthState(rec: ContainerRecord) {
  if (!rec.health || !rec.healthcheck || rec.healthcheck.test[0] === 'NONE') return {};
  return {
    Health: {
      Status: rec.health.status,
      FailingStreak: rec.health.failingStreak,
      Log: rec.health.log.map((l) => ({ Start: l.start, End: l.end, ExitCode: l.exitCode, Output: l.output })),
    },
  };
}

/** The overlay paths of the container's rootfs, as GraphDriver.Data (LowerDir, MergedDir, UpperDir, WorkDir). */
function graphDriverData(rec: ContainerRecord, root: string): Record<string, string> {
  const overlay = rec.spec.rootfs.find((m) => m.type === 'overlay');
  if (!overlay) return {};
  const opt = (k: string) => overlay.options.find((o) => o.startsWith(`${k}=`))?.slice(k.length + 1);
  const abs = (p: string | undefined) => (p && overlay.cwd && !p.startsWith('/') ? join(overlay.cwd, p) : p);
  const lower = opt('lowerdir');
  const out: Record<string, string> = {};
  if (lower)
    out.LowerDir = lower
      .split(':')
      .map((p) => abs(p)!)
      .join(':');
  out.MergedDir = join(bundleDir(root, rec.id), 'rootfs');
  const upper = abs(opt('upperdir'));
  const work = abs(opt('workdir'));
  if (upper) out.UpperDir = upper;
  if (work) out.WorkDir = work;
  return out;
}

/** HostConfig with every key dockerd 20.10 answers, Docker's zero values where kiln has no such setting. */
function hostConfig(rec: ContainerRecord) {
  const spec = rec.spec;
  const binds = (spec.mounts ?? []).filter((m) => m.type === 'bind' && m.source).map((m) => bindString(rec, m.source!, m.target, m.readonly));
  const tmpfs = Object.fromEntries((spec.mounts ?? []).filter((m) => m.type === 'tmpfs').map((m) => [m.target, (m.options ?? []).join(',')]));
  return {
    Binds: binds.length ? binds : null,
    ContainerIDFile: '',
    LogConfig: { Type: 'json-file', Config: {} },
    NetworkMode: networkMode(rec),
    PortBindings: portMap(spec.ports),
    RestartPolicy: { Name: rec.restartPolicy?.name || 'no', MaximumRetryCount: rec.restartPolicy?.maximumRetryCount ?? 0 },
    AutoRemove: rec.autoRemove,
    VolumeDriver: '',
    VolumesFrom: null,
    CapAdd: spec.capAdd?.length ? [...spec.capAdd] : null,
    CapDrop: spec.capDrop?.length ? [...spec.capDrop] : null,
    CgroupnsMode: 'host',
    Dns: [],
    DnsOptions: [],
    DnsSearch: [],
    ExtraHosts: spec.extraHosts?.length ? spec.extraHosts.map((l) => l.split('\t').reverse().join(':')) : null,
    GroupAdd: null,
    IpcMode: 'private',
    Cgroup: '',
    Links: null,
    OomScoreAdj: 0,
    PidMode: '',
    Privileged: false,
    PublishAllPorts: false,
    ReadonlyRootfs: Boolean(spec.readonlyRootfs),
    SecurityOpt: securityOpt(spec.seccomp),
    ...(Object.keys(tmpfs).length ? { Tmpfs: tmpfs } : {}),
    UTSMode: '',
    UsernsMode: '',
    ShmSize: 67108864,
    Runtime: 'runc',
    ConsoleSize: spec.process.consoleSize ? [...spec.process.consoleSize] : [0, 0],
    Isolation: '',
    CpuShares: 0,
    Memory: spec.limits?.memoryBytes ?? 0,
    NanoCpus: spec.limits?.cpus ? Math.round(spec.limits.cpus * 1e9) : 0,
    CgroupParent: '',
    BlkioWeight: 0,
    BlkioWeightDevice: [],
    BlkioDeviceReadBps: null,
    BlkioDeviceWriteBps: null,
    BlkioDeviceReadIOps: null,
    BlkioDeviceWriteIOps: null,
    CpuPeriod: 0,
    CpuQuota: 0,
    CpuRealtimePeriod: 0,
    CpuRealtimeRuntime: 0,
    CpusetCpus: '',
    CpusetMems: '',
    Devices: [],
    DeviceCgroupRules: null,
    DeviceRequests: null,
    KernelMemory: 0,
    KernelMemoryTCP: 0,
    MemoryReservation: 0,
    MemorySwap: 0,
    MemorySwappiness: null,
    OomKillDisable: false,
    PidsLimit: spec.limits?.pids ?? null,
    Ulimits: null,
    CpuCount: 0,
    CpuPercent: 0,
    IOMaximumIOps: 0,
    IOMaximumBandwidth: 0,
    MaskedPaths: [...MASKED_PATHS],
    ReadonlyPaths: [...READONLY_PATHS],
  };
}

/** `--security-opt` as dockerd keeps it: `seccomp=unconfined`, or the profile's JSON; nothing for the default. */
function securityOpt(s: ContainerRecord['spec']['seccomp']): string[] | null {
  if (!s || s === 'default') return null;
  return [s === 'unconfined' ? 'seccomp=unconfined' : `seccomp=${JSON.stringify(s.profile)}`];
}

/** `-v` as written: a volume by its name, a bind by its host path. */
function bindString(rec: ContainerRecord, source: string, target: string, readonly?: boolean): string {
  const m = /\/volumes\/([^/]+)\/_data$/.exec(source);
  const vol = m && rec.volumes.find((v) => v.name === m[1]);
  return `${vol ? vol.name : source}:${target}${readonly ? ':ro' : ''}`;
}

/** The `GET /containers/{id}/json` document (types.ContainerJSON), every key dockerd 20.10 answers. */
export function containerInspect(rec: ContainerRecord, inputs: ShapeInputs) {
  // As dockerd's SetRestarting: a container waiting to restart is Running and Restarting.
  const running = rec.status === 'running' || rec.status === 'restarting';
  const args = rec.spec.process.args;
  const { entrypoint, cmd } = entrypointAndCmd(args, inputs.imageEntrypoint);
  const dir = containerDir(inputs.root, rec.id);
  const bundle = bundleDir(inputs.root, rec.id);
  const exposed: Record<string, object> = { ...(inputs.imageExposedPorts ?? {}) };
  for (const p of rec.spec.ports ?? []) exposed[`${p.containerPort}/${p.protocol ?? 'tcp'}`] = {};
  const networks = inputs.networks ?? networksOf(rec);
  return {
    Id: rec.id,
    Created: rec.created,
    Path: args[0] ?? '',
    Args: args.slice(1),
    State: {
      Status: stateWord(rec),
      Running: running,
      Paused: Boolean(rec.paused && running),
      Restarting: rec.status === 'restarting',
      OOMKilled: false,
      Dead: false,
      Pid: running ? (rec.pid ?? 0) : 0,
      ExitCode: rec.exitCode ?? 0,
      Error: rec.error?.message ?? '',
      StartedAt: rec.startedAt ?? ZERO_TIME,
      FinishedAt: rec.finishedAt ?? ZERO_TIME,
      ...healthState(rec),
    },
    Image: rec.imageId,
    // The files kiln binds over /etc live in the bundle while the container runs (src/sandbox/etc-files.ts);
    // before and after, there are none ("" as dockerd answers for a container never started).
    ResolvConfPath: running ? join(bundle, 'resolv.conf') : '',
    HostnamePath: running ? join(bundle, 'hostname') : '',
    HostsPath: running ? join(bundle, 'hosts') : '',
    LogPath: join(dir, 'log.json'),
    Name: `/${rec.name}`,
    RestartCount: rec.restartCount ?? 0,
    Driver: 'overlay2',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: hostConfig(rec),
    GraphDriver: { Data: graphDriverData(rec, inputs.root), Name: 'overlay2' },
    ...(inputs.sizes ? { SizeRw: inputs.sizes.rw, SizeRootFs: inputs.sizes.rootFs } : {}),
    Mounts: mountsOf(rec, inputs.root),
    Config: {
      Hostname: rec.spec.hostname ?? rec.id.slice(0, 12),
      Domainname: '',
      User: rec.spec.process.user ?? '',
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      ...(Object.keys(exposed).length ? { ExposedPorts: exposed } : {}),
      Tty: Boolean(rec.spec.process.tty),
      OpenStdin: false,
      StdinOnce: false,
      Env: [...rec.spec.process.env],
      Cmd: cmd,
      ...healthConfig(rec),
      Image: rec.image,
      Volumes: null,
      WorkingDir: rec.spec.process.cwd && rec.spec.process.cwd !== '/' ? rec.spec.process.cwd : '',
      Entrypoint: entrypoint,
      OnBuild: null,
      Labels: { ...(rec.labels ?? {}) },
      ...(rec.stopSignal ? { StopSignal: rec.stopSignal } : {}),
    },
    NetworkSettings: {
      Bridge: '',
      SandboxID: running ? rec.id : '',
      HairpinMode: false,
      LinkLocalIPv6Address: '',
      LinkLocalIPv6PrefixLen: 0,
      Ports: running ? portMap(rec.spec.ports) : {},
      // Which namespace a container got (its own or a pooled one) is not kept in the record: no path to name.
      SandboxKey: '',
      SecondaryIPAddresses: null,
      SecondaryIPv6Addresses: null,
      // The legacy top-level fields mirror the default bridge's endpoint (empty on any other network, as dockerd).
      EndpointID: networks.bridge?.EndpointID ?? '',
      Gateway: networks.bridge?.Gateway ?? '',
      GlobalIPv6Address: '',
      GlobalIPv6PrefixLen: 0,
      IPAddress: networks.bridge?.IPAddress ?? '',
      IPPrefixLen: networks.bridge?.IPPrefixLen ?? 0,
      IPv6Gateway: '',
      MacAddress: networks.bridge?.MacAddress ?? '',
      Networks: networks,
    },
  };
}
