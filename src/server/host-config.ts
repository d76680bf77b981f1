/**
 * The parts of a `POST /containers/create` body (Config + HostConfig) that change how the container runs,
 * mapped to the executor's options as `kiln run`'s flags are: ExtraHosts, CapAdd/CapDrop, ReadonlyRootfs, Tmpfs,
 * Memory, NanoCpus, PidsLimit, SecurityOpt, Hostname, Privileged, ConsoleSize. The docker CLI sends zero values for what the user did not
 * set, so 0, false, null and empty lists mean "not set". Settings kiln cannot honour are refused with a clear
 * error instead of being dropped: a container must never run with less isolation, or more, than was asked.
 */
import { realpath } from 'node:fs/promises';
import { isAbsolute, relative } from 'node:path';
import { KilnError } from '../errors.js';
import { parseVolume } from '../containers/run-config.js';
import type { CreateContainerOptions } from '../containers/create-container.js';
import { parseSeccompProfile, type SeccompSetting } from '../sandbox/security-opt.js';
import type { ContainerCreate } from './backend.js';
import type { Entitlement } from '../builder/entitlements.js';

export type HostOptions = Pick<
  CreateContainerOptions,
  'hostname' | 'addHosts' | 'capAdd' | 'capDrop' | 'readonlyRootfs' | 'tmpfs' | 'limits' | 'seccomp' | 'consoleSize' | 'privileged'
>;

export function hostOptions(spec: ContainerCreate): HostOptions {
  const hc = spec.HostConfig ?? {};
  const out: HostOptions = {};
  if (hc.Privileged) out.privileged = true;
  if (spec.Hostname) out.hostname = spec.Hostname;
  if (hc.ExtraHosts?.length) out.addHosts = hc.ExtraHosts;
  if (hc.CapAdd?.length) out.capAdd = hc.CapAdd;
  if (hc.CapDrop?.length) out.capDrop = hc.CapDrop;
  if (hc.ReadonlyRootfs) out.readonlyRootfs = true;
  const tmpfs = Object.entries(hc.Tmpfs ?? {}).map(([path, opts]) => (opts ? `${path}:${opts}` : path));
  if (tmpfs.length) out.tmpfs = tmpfs;
  const limits: NonNullable<HostOptions['limits']> = {};
  if (positive(hc.Memory, 'Memory')) limits.memoryBytes = hc.Memory!;
  if (positive(hc.NanoCpus, 'NanoCpus')) limits.cpus = hc.NanoCpus! / 1e9;
  if (positive(hc.PidsLimit, 'PidsLimit')) limits.pids = hc.PidsLimit!;
  if (Object.keys(limits).length) out.limits = limits;
  const size = consoleSizeOf(hc.ConsoleSize);
  if (size) out.consoleSize = size;
  const seccomp = seccompOf(hc.SecurityOpt ?? []);
  if (seccomp) out.seccomp = seccomp;
  return out;
}

/**
 * Refuses a container that asks for more than the sandbox unless the server was started allowing it, with the
 * builds' entitlement names: the host's network (`docker run --network host`) needs network.host; lifting the
 * sandbox (`--privileged`, `--cap-add`, a seccomp setting other than the default profile) needs
 * security.insecure. The server runs strangers' requests; only its operator may grant these.
 */
export function checkContainerEntitlements(spec: ContainerCreate, permitted: readonly Entitlement[]): void {
  const hc = spec.HostConfig ?? {};
  const refuse = (e: Entitlement, what: string) => {
    if (permitted.includes(e)) return;
    throw new KilnError('ENTITLEMENT_DENIED', `${what} needs the ${e} entitlement, which this server does not grant`, {
      hint: `its operator can start it with kiln serve --allow ${e}`,
      details: { entitlement: e },
    });
  };
  if (hc.NetworkMode === 'host') refuse('network.host', 'a container on the host network (--network host)');
  if (hc.Privileged) refuse('security.insecure', 'a privileged container (--privileged)');
  if (hc.CapAdd?.length) refuse('security.insecure', `added capabilities (--cap-add ${hc.CapAdd.join(',')})`);
  const seccomp = seccompOf(hc.SecurityOpt ?? []);
  if (seccomp && seccomp !== 'default') refuse('security.insecure', 'a seccomp setting other than the default profile');
}

/**
 * A host path bound into a container (`docker run -v /srv/data:/data`) lets a stranger's container read or write
 * that part of the host, and `-v /:/host` all of it. Through the server, a bind source must lie inside a directory
 * the operator named (`kiln serve --allow-bind DIR`), after symlinks are resolved; named volumes need nothing.
 * Returns the binds with each host source replaced by its real path, so what is mounted is what was checked.
 */
export async function confineHostBinds(binds: string[], roots: readonly string[]): Promise<string[]> {
  const inside = (p: string) =>
    roots.some((r) => {
      const rel = relative(r, p);
      return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
    });
  const refuse = (source: string) =>
    new KilnError('ENTITLEMENT_DENIED', `a bind mount of the host path ${source} is not allowed by this server`, {
      hint: roots.length
        ? `this server allows binds from ${roots.join(', ')} only; use a named volume, or ask its operator`
        : 'use a named volume (-v NAME:/path); the operator can allow host directories with kiln serve --allow-bind DIR',
      details: { source },
    });
  const out: string[] = [];
  for (const b of binds) {
    const v = parseVolume(b, '/');
    if (v.kind !== 'bind') {
      out.push(b);
      continue;
    }
    // Lexically first: a path outside every allowed root is refused without saying whether it exists.
    if (!inside(v.source)) throw refuse(v.source);
    let real: string;
    try {
      real = await realpath(v.source);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR')
        throw new KilnError('INVALID_ARGUMENT', `invalid mount config: bind source path does not exist: ${v.source}`);
      throw err;
    }
    if (!inside(real)) throw refuse(v.source);
    out.push(`${real}:${v.target}${v.readonly ? ':ro' : ''}`);
  }
  return out;
}

/** `[rows, columns]`, or undefined for the CLI's `[0, 0]` (no terminal on its side) and anything malformed. */
export function consoleSizeOf(v: unknown): [number, number] | undefined {
  return Array.isArray(v) && v.length === 2 ? terminalSizeOf(v[0], v[1]) : undefined;
}

/** Rows and columns a terminal can have (positive integers up to 65535), or undefined. */
export function terminalSizeOf(rows: unknown, cols: unknown): [number, number] | undefined {
  const ok = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n > 0 && n <= 65535;
  return ok(rows) && ok(cols) ? [rows, cols] : undefined;
}

/** A limit given as a positive integer; 0, null and -1 (PidsLimit's "unlimited") mean unset. */
function positive(v: number | null | undefined, field: string): boolean {
  if (v === undefined || v === null || v === 0 || v === -1) return false;
  if (!Number.isFinite(v) || v < 0) throw new KilnError('INVALID_ARGUMENT', `invalid HostConfig.${field}: ${v}`);
  return true;
}

/**
 * SecurityOpt as the docker CLI sends it: `seccomp=unconfined`, `seccomp=builtin`, or `seccomp=` followed by the
 * profile's JSON (the CLI reads the file on the client; the server never opens a path a client names), and
 * `no-new-privileges` (always on). AppArmor and SELinux labels are refused: kiln applies neither.
 */
function seccompOf(opts: readonly string[]): SeccompSetting | undefined {
  let seccomp: SeccompSetting | undefined;
  for (const opt of opts) {
    const m = /^([a-z-]+)(?:[=:](.*))?$/s.exec(opt);
    const [key, value] = [m?.[1], m?.[2]];
    if (key === 'no-new-privileges' && (value === undefined || value === 'true')) continue;
    if (key === 'seccomp' && value === 'unconfined') seccomp = 'unconfined';
    else if (key === 'seccomp' && value === 'builtin') seccomp = 'default';
    else if (key === 'seccomp' && value?.trimStart().startsWith('{')) seccomp = { profile: parseSeccompProfile(value, 'SecurityOpt') };
    else {
      throw new KilnError('INVALID_ARGUMENT', `security option ${JSON.stringify(opt.length > 80 ? `${opt.slice(0, 80)}…` : opt)} is not supported`, {
        hint: 'kiln supports seccomp=unconfined, seccomp=builtin, a seccomp profile and no-new-privileges',
      });
    }
  }
  return seccomp;
}

type Loose = Record<string, unknown>;

/** A value the docker CLI sends for an option the user did not give: absent, null, 0, false, "", [] or {}. */
function unset(v: unknown): boolean {
  if (v === undefined || v === null || v === 0 || v === false || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.values(v as Loose).every(unset);
  return false;
}

const refusal = (option: string, hint?: string) =>
  new KilnError('NOT_IMPLEMENTED', `${option} is not supported by kiln serve`, { ...(hint ? { hint } : {}), details: { option } });

const VOLUME_HINT = 'use a named volume (-v NAME:/path) or a bind mount (-v /host/dir:/path)';

/**
 * One row per create-body field kiln does not honour: the field, the docker option that sets it, and (optionally)
 * the values that mean "not set" beyond the zero values. What `docker run` (CLI 28) sends with no options, recorded
 * from its request body:
 *
 *   Config:            Hostname "", Domainname "", User "", Env null, Volumes {}, WorkingDir "", Entrypoint null,
 *                      OnBuild null, Labels {}; no Healthcheck, StopSignal, StopTimeout, ExposedPorts, MacAddress
 *   HostConfig:        Binds null, ContainerIDFile "", LogConfig {Type "", Config {}}, NetworkMode "default",
 *                      PortBindings {}, RestartPolicy {Name "no", MaximumRetryCount 0}, AutoRemove false,
 *                      VolumeDriver "", VolumesFrom null, ConsoleSize [0, 0], CgroupnsMode "", Dns [], DnsOptions [],
 *                      DnsSearch [], GroupAdd null, IpcMode "", Cgroup "", Links null, OomScoreAdj 0, PidMode "",
 *                      PublishAllPorts false, UTSMode "", UsernsMode "", ShmSize 0, Isolation "", CpuShares 0,
 *                      CgroupParent "", BlkioWeight 0, Blkio* [], CpuPeriod 0, CpuQuota 0, CpuRealtime* 0,
 *                      CpusetCpus "", CpusetMems "", Devices [], DeviceCgroupRules null, DeviceRequests null,
 *                      MemoryReservation 0, MemorySwap 0, MemorySwappiness -1, OomKillDisable false, PidsLimit 0,
 *                      Ulimits [], CpuCount 0, CpuPercent 0, IOMaximumIOps 0, IOMaximumBandwidth 0,
 *                      MaskedPaths null, ReadonlyPaths null; no Mounts, Init, Sysctls, StorageOpt, Runtime, Annotations
 *   NetworkingConfig:  EndpointsConfig {"default": {IPAMConfig null, Links null, Aliases null, MacAddress "",
 *                      DriverOpts null, GwPriority 0, …, DNSNames null}}; no endpoint with --network none|host|NAME
 *
 * and what an option adds: `--restart on-failure:3` → RestartPolicy {Name "on-failure", MaximumRetryCount 3};
 * `--restart no` → the default; `--health-cmd X` → Healthcheck {Test ["CMD-SHELL", X]}; `--no-healthcheck` →
 * Healthcheck {Test ["NONE"]}; `--log-driver json-file` → LogConfig.Type "json-file"; `--ip`/`--ip6`/
 * `--link-local-ip` → the endpoint's IPAMConfig; `--network-alias` → the endpoint's Aliases; `--mac-address` →
 * the endpoint's MacAddress; `-v /data` → Volumes {"/data": {}}; `--mount` → Mounts [{Type, Source, Target, ReadOnly}];
 * `--expose`/`-p` → ExposedPorts (metadata, accepted); `--cidfile` → ContainerIDFile (the CLI writes that file).
 */
const UNSUPPORTED: Array<{ field: string; option: string; ok?: (v: unknown) => boolean; hint?: string }> = [
  { field: 'Domainname', option: '--domainname' },
  { field: 'StopTimeout', option: '--stop-timeout', hint: 'docker stop -t SECONDS sets the grace period per stop' },
  { field: 'MacAddress', option: '--mac-address' },
  { field: 'NetworkDisabled', option: 'NetworkDisabled', hint: 'use --network none' },
  {
    field: 'Healthcheck',
    option: 'a health check (--health-cmd, --health-interval, --health-retries, --health-timeout, --health-start-period)',
    // --no-healthcheck: kiln runs no health checks, the image's included.
    ok: (v) => JSON.stringify((v as Loose).Test) === '["NONE"]' && unset({ ...(v as Loose), Test: undefined }),
  },
  {
    field: 'HostConfig.RestartPolicy',
    option: '--restart',
    ok: (v) => ['', 'no'].includes(String((v as Loose).Name ?? '')) && unset((v as Loose).MaximumRetryCount),
  },
  { field: 'HostConfig.LogConfig.Type', option: '--log-driver', ok: (v) => v === 'json-file', hint: 'kiln keeps logs as json-file' },
  { field: 'HostConfig.LogConfig.Config', option: '--log-opt' },
  { field: 'HostConfig.VolumeDriver', option: '--volume-driver' },
  { field: 'HostConfig.VolumesFrom', option: '--volumes-from', hint: `share a named volume instead: ${VOLUME_HINT}` },
  { field: 'HostConfig.Links', option: '--link', hint: 'containers on the default network reach each other by published ports' },
  { field: 'HostConfig.Annotations', option: '--annotation' },
  { field: 'HostConfig.CgroupnsMode', option: '--cgroupns' },
  { field: 'HostConfig.Dns', option: '--dns' },
  { field: 'HostConfig.DnsOptions', option: '--dns-option' },
  { field: 'HostConfig.DnsSearch', option: '--dns-search' },
  { field: 'HostConfig.GroupAdd', option: '--group-add' },
  { field: 'HostConfig.IpcMode', option: '--ipc', ok: (v) => v === 'private', hint: 'containers get a private IPC namespace' },
  { field: 'HostConfig.Cgroup', option: 'HostConfig.Cgroup' },
  { field: 'HostConfig.OomScoreAdj', option: '--oom-score-adj' },
  { field: 'HostConfig.PidMode', option: '--pid' },
  { field: 'HostConfig.PublishAllPorts', option: '-P (--publish-all)', hint: 'publish each port with -p HOSTPORT:CONTAINERPORT' },
  { field: 'HostConfig.StorageOpt', option: '--storage-opt' },
  { field: 'HostConfig.UTSMode', option: '--uts' },
  { field: 'HostConfig.UsernsMode', option: '--userns' },
  { field: 'HostConfig.ShmSize', option: '--shm-size' },
  { field: 'HostConfig.Sysctls', option: '--sysctl' },
  { field: 'HostConfig.Runtime', option: '--runtime', ok: (v) => v === 'runc' },
  { field: 'HostConfig.Isolation', option: '--isolation', ok: (v) => v === 'default' },
  { field: 'HostConfig.Init', option: '--init' },
  { field: 'HostConfig.MaskedPaths', option: 'HostConfig.MaskedPaths' },
  { field: 'HostConfig.ReadonlyPaths', option: 'HostConfig.ReadonlyPaths' },
  { field: 'HostConfig.CpuShares', option: '--cpu-shares', hint: 'use --cpus' },
  { field: 'HostConfig.CgroupParent', option: '--cgroup-parent' },
  { field: 'HostConfig.BlkioWeight', option: '--blkio-weight' },
  { field: 'HostConfig.BlkioWeightDevice', option: '--blkio-weight-device' },
  { field: 'HostConfig.BlkioDeviceReadBps', option: '--device-read-bps' },
  { field: 'HostConfig.BlkioDeviceWriteBps', option: '--device-write-bps' },
  { field: 'HostConfig.BlkioDeviceReadIOps', option: '--device-read-iops' },
  { field: 'HostConfig.BlkioDeviceWriteIOps', option: '--device-write-iops' },
  { field: 'HostConfig.CpuPeriod', option: '--cpu-period', hint: 'use --cpus' },
  { field: 'HostConfig.CpuQuota', option: '--cpu-quota', hint: 'use --cpus' },
  { field: 'HostConfig.CpuRealtimePeriod', option: '--cpu-rt-period' },
  { field: 'HostConfig.CpuRealtimeRuntime', option: '--cpu-rt-runtime' },
  { field: 'HostConfig.CpusetCpus', option: '--cpuset-cpus' },
  { field: 'HostConfig.CpusetMems', option: '--cpuset-mems' },
  { field: 'HostConfig.Devices', option: '--device', hint: '--privileged gives every host device (with the security.insecure entitlement)' },
  { field: 'HostConfig.DeviceCgroupRules', option: '--device-cgroup-rule' },
  { field: 'HostConfig.DeviceRequests', option: '--gpus' },
  { field: 'HostConfig.KernelMemory', option: '--kernel-memory' },
  { field: 'HostConfig.KernelMemoryTCP', option: 'HostConfig.KernelMemoryTCP' },
  { field: 'HostConfig.MemoryReservation', option: '--memory-reservation', hint: 'use --memory' },
  { field: 'HostConfig.MemorySwap', option: '--memory-swap', hint: 'use --memory' },
  { field: 'HostConfig.MemorySwappiness', option: '--memory-swappiness', ok: (v) => v === -1 },
  { field: 'HostConfig.OomKillDisable', option: '--oom-kill-disable' },
  { field: 'HostConfig.Ulimits', option: '--ulimit' },
  { field: 'HostConfig.CpuCount', option: '--cpu-count', hint: 'use --cpus' },
  { field: 'HostConfig.CpuPercent', option: '--cpu-percent', hint: 'use --cpus' },
  { field: 'HostConfig.IOMaximumIOps', option: '--io-maxiops' },
  { field: 'HostConfig.IOMaximumBandwidth', option: '--io-maxbandwidth' },
];

/** Per network endpoint (`NetworkingConfig.EndpointsConfig.*`): what sets each field. */
const ENDPOINT_OPTIONS: Record<string, string> = {
  Links: '--link',
  MacAddress: '--mac-address',
  DriverOpts: '--network driver options',
  GwPriority: '--network gw-priority',
  DNSNames: 'DNSNames',
  IPAddress: '--ip',
  IPPrefixLen: '--ip',
  IPv6Gateway: '--ip6',
  GlobalIPv6Address: '--ip6',
  GlobalIPv6PrefixLen: '--ip6',
  Gateway: 'an endpoint gateway',
};

function at(obj: unknown, path: string): unknown {
  let v = obj;
  for (const k of path.split('.')) v = v && typeof v === 'object' ? (v as Loose)[k] : undefined;
  return v;
}

/**
 * Refuses a `POST /containers/create` body that asks for something kiln would not do: every field the docker CLI
 * can set that kiln does not honour, when set to other than its "not set" value. Called before anything is
 * created; the error names the docker option. An image's own HEALTHCHECK and VOLUMEs are not the request's, so they
 * never cause a refusal (image VOLUMEs get anonymous volumes; health checks are not run).
 */
export function refuseUnsupported(spec: ContainerCreate): void {
  for (const row of UNSUPPORTED) {
    const v = at(spec, row.field);
    if (unset(v) || row.ok?.(v)) continue;
    const shown = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? ` ${String(v)}` : '';
    const option = row.field === 'HostConfig.RestartPolicy' ? `--restart ${String((v as Loose).Name)}` : `${row.option}${shown.length <= 40 ? shown : ''}`;
    throw refusal(option, row.hint);
  }
  for (const ep of Object.values(
    (spec as unknown as { NetworkingConfig?: { EndpointsConfig?: Record<string, Loose | null> } }).NetworkingConfig?.EndpointsConfig ?? {},
  )) {
    for (const [k, v] of Object.entries(ep ?? {})) {
      // Aliases (`--network-alias`) and IPAMConfig.IPv4Address (`--ip`) are honoured on user-defined networks.
      if (k === 'NetworkID' || k === 'EndpointID' || k === 'Aliases' || unset(v)) continue;
      if (k === 'IPAMConfig' && v && typeof v === 'object') {
        for (const [ik, iv] of Object.entries(v as Loose)) {
          if (ik !== 'IPv4Address' && !unset(iv)) throw refusal(ik === 'IPv6Address' ? '--ip6' : '--link-local-ip');
        }
        continue;
      }
      throw refusal(ENDPOINT_OPTIONS[k] ?? `NetworkingConfig ${k}`);
    }
  }
  // `docker run -d -i` (OpenStdin with nothing attached): docker keeps stdin open for a later attach; kiln hands a
  // container its stdin only from a client attached before start.
  if (spec.OpenStdin && !spec.AttachStdin && !spec.AttachStdout && !spec.AttachStderr)
    throw refusal('-i (--interactive) with -d (--detach)', 'drop -i, and give the container a command that keeps running (e.g. sleep infinity)');
  const signal = (spec as { StopSignal?: unknown }).StopSignal;
  if (!unset(signal) && (typeof signal !== 'string' || !/^(SIG)?[A-Z0-9+-]+$|^\d+$/.test(signal)))
    throw new KilnError('INVALID_ARGUMENT', `invalid --stop-signal ${JSON.stringify(signal)}`);
}

/**
 * `docker run --mount` (HostConfig.Mounts) and `-v /data` (Config.Volumes, an anonymous volume) as kiln's binds,
 * appended to HostConfig.Binds, so bind sources go through the same confinement as `-v /host:/path`:
 * type=bind → `SRC:DST[:ro]`, type=volume → `NAME:DST[:ro]` (no source: an anonymous volume), type=tmpfs → a
 * HostConfig.Tmpfs entry. Mount options kiln does not apply (propagation, volume drivers and labels, tmpfs size
 * and mode, consistency) are refused. Mutates `spec`.
 */
export function mountsToBinds(spec: ContainerCreate): void {
  const hc = (spec.HostConfig ??= {});
  const binds = [...(hc.Binds ?? [])];
  const targets = new Set(binds.map((b) => parseVolume(b, '/').target));
  const mounts = (hc as { Mounts?: unknown }).Mounts;
  if (mounts !== undefined && mounts !== null && !Array.isArray(mounts)) throw new KilnError('INVALID_ARGUMENT', 'HostConfig.Mounts must be a list');
  for (const m of (mounts ?? []) as Loose[]) {
    const type = String(m?.Type ?? '');
    const target = m?.Target;
    const source = m?.Source ? String(m.Source) : '';
    const shown = `--mount type=${type}${source ? `,src=${source}` : ''},dst=${String(target)}`;
    if (typeof target !== 'string' || !isAbsolute(target)) throw new KilnError('INVALID_ARGUMENT', `${shown}: the target must be an absolute path`);
    const extra = Object.entries(m).filter(([k, v]) => !['Type', 'Source', 'Target', 'ReadOnly'].includes(k) && !unset(v));
    if (extra.length) throw refusal(`${shown} with ${extra.map(([k]) => k).join(', ')}`, 'kiln supports type, src, dst and readonly');
    const ro = m.ReadOnly === true ? ':ro' : '';
    if (type === 'bind') {
      if (!source.startsWith('/')) throw new KilnError('INVALID_ARGUMENT', `${shown}: a bind source must be an absolute host path`);
      binds.push(`${source}:${target}${ro}`);
    } else if (type === 'volume') {
      binds.push(source ? `${source}:${target}${ro}` : `${target}${ro}`);
    } else if (type === 'tmpfs') {
      if (ro) throw refusal(`${shown},readonly`);
      hc.Tmpfs = { ...(hc.Tmpfs ?? {}), [target]: '' };
      continue;
    } else {
      throw refusal(`--mount type=${type}`, `kiln supports type=bind, type=volume and type=tmpfs; ${VOLUME_HINT}`);
    }
    targets.add(target);
  }
  const volumes = (spec as { Volumes?: unknown }).Volumes;
  for (const target of Object.keys(volumes && typeof volumes === 'object' ? volumes : {})) {
    if (!isAbsolute(target)) throw new KilnError('INVALID_ARGUMENT', `invalid volume -v ${target}: the container path must be absolute`);
    if (!targets.has(target)) binds.push(target);
    targets.add(target);
  }
  if (binds.length) hc.Binds = binds;
  delete (hc as { Mounts?: unknown }).Mounts;
}
