/**
 * The parts of a `POST /containers/create` body (Config + HostConfig) that change how the container runs,
 * mapped to the executor's options as `kiln run`'s flags are: ExtraHosts, CapAdd/CapDrop, ReadonlyRootfs, Tmpfs,
 * Memory, NanoCpus, PidsLimit, SecurityOpt, Hostname, Privileged, ConsoleSize, RestartPolicy, Healthcheck. The docker CLI sends zero values for what the user did not
 * set, so 0, false, null and empty lists mean "not set". Settings kiln cannot honour are refused with a clear
 * error instead of being dropped: a container must never run with less isolation, or more, than was asked.
 */
import { randomBytes } from 'node:crypto';
import { realpath } from 'node:fs/promises';
import { isAbsolute, relative } from 'node:path';
import { KilnError } from '../errors.js';
import { parseVolume } from '../containers/run-config.js';
import { healthcheckOf } from '../containers/healthcheck.js';
import { hasRestartPolicy, restartPolicyOf } from '../containers/restart-policy.js';
import { TMPFS_MODE_REFUSAL } from '../containers/volume-opts.js';
import type { CreateContainerOptions } from '../containers/create-container.js';
import { parseSeccompProfile, type SeccompSetting } from '../sandbox/security-opt.js';
import type { ContainerCreate } from './backend.js';
import type { Entitlement } from '../builder/entitlements.js';

export type HostOptions = Pick<
  CreateContainerOptions,
  | 'hostname'
  | 'addHosts'
  | 'capAdd'
  | 'capDrop'
  | 'readonlyRootfs'
  | 'tmpfs'
  | 'limits'
  | 'seccomp'
  | 'consoleSize'
  | 'privileged'
  | 'restartPolicy'
  | 'healthcheck'
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
  const restart = restartPolicyOf(hc.RestartPolicy);
  if (hasRestartPolicy(restart)) out.restartPolicy = restart;
  const health = healthcheckOf(spec.Healthcheck);
  if (health) out.healthcheck = health;
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
  const out: string[] = [];
  for (const b of binds) {
    const v = parseVolume(b, '/');
    if (v.kind !== 'bind') {
      out.push(b);
      continue;
    }
    const real = await confineHostPath(v.source, roots);
    out.push(`${real}:${v.target}${v.readonly ? ':ro' : ''}`);
  }
  return out;
}

/**
 * One host path a client asks to bind (a `-v` source, a volume's `device=` with `o=bind`): refused unless it lies
 * inside an allowed root both as written and after symlinks; returns its real path. ENTITLEMENT_DENIED, or
 * INVALID_ARGUMENT when it does not exist.
 */
export async function confineHostPath(source: string, roots: readonly string[]): Promise<string> {
  const inside = (p: string) =>
    roots.some((r) => {
      const rel = relative(r, p);
      return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
    });
  const refuse = () =>
    new KilnError('ENTITLEMENT_DENIED', `a bind mount of the host path ${source} is not allowed by this server`, {
      hint: roots.length
        ? `this server allows binds from ${roots.join(', ')} only; use a named volume, or ask its operator`
        : 'use a named volume (-v NAME:/path); the operator can allow host directories with kiln serve --allow-bind DIR',
      details: { source },
    });
  // Lexically first: a path outside every allowed root is refused without saying whether it exists.
  if (!inside(source)) throw refuse();
  let real: string;
  try {
    real = await realpath(source);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new KilnError('INVALID_ARGUMENT', `invalid mount config: bind source path does not exist: ${source}`);
    throw err;
  }
  if (!inside(real)) throw refuse();
  return real;
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
  { field: 'HostConfig.LogConfig.Type', option: '--log-driver', ok: (v) => v === 'json-file', hint: 'kiln keeps logs as json-file' },
  { field: 'HostConfig.LogConfig.Config', option: '--log-opt' },
  { field: 'HostConfig.VolumeDriver', option: '--volume-driver', ok: (v) => v === 'local', hint: 'kiln has only the "local" volume driver' },
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
    throw refusal(`${row.option}${shown.length <= 40 ? shown : ''}`, row.hint);
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

/** A volume `--mount` asks for before the container is created: its labels and driver options (`volume-label`, `volume-opt`). */
export interface MountVolume {
  name: string;
  anonymous: boolean;
  labels?: Record<string, string>;
  driverOpts?: Record<string, string>;
}

function stringMapOf(v: unknown, what: string): Record<string, string> | undefined {
  // Not unset(): a label with an empty value (`volume-label=k`) is still a label.
  if (v === undefined || v === null || (typeof v === 'object' && Object.keys(v).length === 0)) return undefined;
  if (typeof v !== 'object' || Array.isArray(v) || Object.values(v as Loose).some((x) => typeof x !== 'string'))
    throw new KilnError('INVALID_ARGUMENT', `${what} must be an object of strings`);
  return { ...(v as Record<string, string>) };
}

/** `--mount type=volume` options: volume-nocopy, volume-label, volume-opt (volume-driver: local only). */
function volumeOptions(m: Loose, shown: string): { nocopy: boolean; labels?: Record<string, string>; driverOpts?: Record<string, string> } {
  const vo = (m.VolumeOptions ?? {}) as Loose;
  if (typeof vo !== 'object') throw new KilnError('INVALID_ARGUMENT', `${shown}: VolumeOptions must be an object`);
  const extra = Object.entries(vo).filter(([k, v]) => !['NoCopy', 'Labels', 'DriverConfig'].includes(k) && !unset(v));
  if (extra.length)
    throw refusal(`${shown} with ${extra.map(([k]) => `VolumeOptions.${k}`).join(', ')}`, 'kiln supports volume-nocopy, volume-label, volume-opt');
  const dc = (vo.DriverConfig ?? {}) as Loose;
  const driver = dc.Name;
  if (!unset(driver) && driver !== 'local') throw refusal(`${shown},volume-driver=${String(driver)}`, 'kiln has only the "local" volume driver');
  return { nocopy: vo.NoCopy === true, labels: stringMapOf(vo.Labels, `${shown}: volume-label`), driverOpts: stringMapOf(dc.Options, `${shown}: volume-opt`) };
}

/** `--mount type=tmpfs` options: tmpfs-size as HostConfig.Tmpfs's mount data; tmpfs-mode is refused (see TMPFS_MODE_REFUSAL). */
function tmpfsOptions(m: Loose, shown: string): string {
  const to = (m.TmpfsOptions ?? {}) as Loose;
  const extra = Object.entries(to).filter(([k, v]) => !['SizeBytes', 'Mode'].includes(k) && !unset(v));
  if (extra.length) throw refusal(`${shown} with ${extra.map(([k]) => `TmpfsOptions.${k}`).join(', ')}`, 'kiln supports tmpfs-size');
  const out: string[] = [];
  if (!unset(to.SizeBytes)) {
    if (typeof to.SizeBytes !== 'number' || !Number.isInteger(to.SizeBytes) || to.SizeBytes < 0)
      throw new KilnError('INVALID_ARGUMENT', `${shown}: invalid tmpfs-size ${JSON.stringify(to.SizeBytes)}`);
    out.push(`size=${to.SizeBytes}`);
  }
  if (!unset(to.Mode)) throw refusal(`${shown},tmpfs-mode=${String(to.Mode)}`, TMPFS_MODE_REFUSAL);
  return out.join(',');
}

/**
 * `docker run --mount` (HostConfig.Mounts) and `-v /data` (Config.Volumes, an anonymous volume) as kiln's binds,
 * appended to HostConfig.Binds, so bind sources go through the same confinement as `-v /host:/path`:
 * type=bind → `SRC:DST[:ro]`, type=volume → `NAME:DST[:ro][,nocopy]` (no source: an anonymous volume),
 * type=tmpfs → a HostConfig.Tmpfs entry with its size and mode. Returns the volumes to create first, with the
 * labels and driver options `--mount` gave (an anonymous one then gets its random name here). Options kiln does
 * not apply (bind propagation, recursive-mount options, a volume subpath, another volume driver) are refused.
 * Mutates `spec`.
 */
export function mountsToBinds(spec: ContainerCreate): MountVolume[] {
  const hc = (spec.HostConfig ??= {});
  const binds = [...(hc.Binds ?? [])];
  const targets = new Set(binds.map((b) => parseVolume(b, '/').target));
  const precreate: MountVolume[] = [];
  const mounts = (hc as { Mounts?: unknown }).Mounts;
  if (mounts !== undefined && mounts !== null && !Array.isArray(mounts)) throw new KilnError('INVALID_ARGUMENT', 'HostConfig.Mounts must be a list');
  for (const m of (mounts ?? []) as Loose[]) {
    const type = String(m?.Type ?? '');
    const target = m?.Target;
    const source = m?.Source ? String(m.Source) : '';
    const shown = `--mount type=${type}${source ? `,src=${source}` : ''},dst=${String(target)}`;
    if (typeof target !== 'string' || !isAbsolute(target)) throw new KilnError('INVALID_ARGUMENT', `${shown}: the target must be an absolute path`);
    const own: Record<string, string> = { bind: 'BindOptions', volume: 'VolumeOptions', tmpfs: 'TmpfsOptions' };
    const extra = Object.entries(m).filter(([k, v]) => !['Type', 'Source', 'Target', 'ReadOnly', own[type]].includes(k) && !unset(v));
    if (extra.length)
      throw refusal(`${shown} with ${extra.map(([k]) => k).join(', ')}`, 'kiln supports type, src, dst, readonly and the volume and tmpfs options');
    const ro = m.ReadOnly === true ? ':ro' : '';
    if (type === 'bind') {
      if (!unset(m.BindOptions)) throw refusal(`${shown} with bind options (bind-propagation, bind-nonrecursive, bind-create-src, bind-recursive)`);
      if (!source.startsWith('/')) throw new KilnError('INVALID_ARGUMENT', `${shown}: a bind source must be an absolute host path`);
      binds.push(`${source}:${target}${ro}`);
    } else if (type === 'volume') {
      const vo = volumeOptions(m, shown);
      const mode = [...(ro ? ['ro'] : []), ...(vo.nocopy ? ['nocopy'] : [])].join(',');
      let name = source;
      if (vo.labels || vo.driverOpts) {
        // Labels and driver options belong to the volume: create it (named, or anonymous with a name of its own) first.
        name ||= randomBytes(32).toString('hex');
        precreate.push({ name, anonymous: !source, ...(vo.labels ? { labels: vo.labels } : {}), ...(vo.driverOpts ? { driverOpts: vo.driverOpts } : {}) });
      }
      binds.push(`${name ? `${name}:` : ''}${target}${mode ? `:${mode}` : ''}`);
    } else if (type === 'tmpfs') {
      if (ro) throw refusal(`${shown},readonly`);
      hc.Tmpfs = { ...(hc.Tmpfs ?? {}), [target]: tmpfsOptions(m, shown) };
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
  return precreate;
}
