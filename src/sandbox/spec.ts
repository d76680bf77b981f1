/**
 * The OCI runtime config (config.json) kiln hands to runc, with Docker's defaults (moby's oci/defaults.go):
 * the same namespaces, mounts, masked and read-only paths and capability set, so a process behaves as it
 * would under `docker run`. Pure: no I/O, unit-tested.
 */
import { KilnError } from '../errors.js';
import { seccompFor } from './seccomp-profile.js';
import { hostCompatAbis } from './compat-abis.js';
import type { SeccompSetting } from './security-opt.js';
import type { ContainerMount } from './types.js';
import type { ResolvedUser } from './user.js';
import type { HostDevice } from './host-devices.js';

/** Docker's default capabilities (moby oci/caps/defaults.go). */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

export const MASKED_PATHS = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface SpecInput {
  args: string[];
  env: string[];
  cwd: string;
  user: ResolvedUser;
  tty: boolean;
  /** Rows and columns of the terminal when the process starts (with `tty`). */
  consoleSize?: [number, number];
  hostname: string;
  /** Files in the bundle to bind over /etc/hosts, /etc/resolv.conf, /etc/hostname. */
  etcFiles: { hosts: string; resolvConf: string; hostname: string };
  /** 'host' shares the host's; a path joins that namespace; 'new' makes an empty one (loopback only). */
  network: 'host' | 'new' | { path: string };
  mounts: ContainerMount[];
  cgroupsPath: string;
  limits?: { memoryBytes?: number; cpus?: number; pids?: number };
  readonlyRootfs?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  /** What `ALL` in capAdd grants: the host's bounding set (default every capability runc knows). */
  hostCapabilities?: readonly string[];
  /** Docker's default seccomp profile unless `unconfined` or a profile of the user's. */
  seccomp?: SeccompSetting;
  /** Hard RLIMIT_NOFILE kiln may grant (root here lacks CAP_SYS_RESOURCE: never exceed the current hard limit). */
  nofileLimit: number;
  /**
   * `--privileged`, as Docker: every capability the host allows (cap-add/drop do not apply), no seccomp filter, no
   * masked or read-only paths, /sys and the cgroup file system writable, and these host devices, all allowed.
   */
  privileged?: { devices: HostDevice[] };
}

/** Every capability runc 1.1 knows (for `--cap-add ALL`). */
export const ALL_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

/**
 * Docker's `--cap-add`/`--cap-drop`: names with or without `CAP_`, any case; `ALL` in either; drops win over the
 * default. `all` is what `--cap-add ALL` grants: every capability the host allows (see hostCapabilities).
 */
export function adjustCapabilities(base: string[], add: string[], drop: string[], all: readonly string[] = ALL_CAPABILITIES): string[] {
  const norm = (c: string) => {
    const up = c.toUpperCase();
    if (up === 'ALL') return up;
    const name = up.startsWith('CAP_') ? up : `CAP_${up}`;
    if (!ALL_CAPABILITIES.includes(name)) throw new KilnError('INVALID_ARGUMENT', `unknown capability: "${c}"`);
    return name;
  };
  const a = add.map(norm);
  const d = drop.map(norm);
  let out = d.includes('ALL') ? [] : base.filter((c) => !d.includes(c));
  out = a.includes('ALL') ? [...all] : [...out, ...a.filter((c) => !out.includes(c))];
  return out;
}

/** Adds PATH (Docker's default), HOME, and TERM=xterm for a terminal when missing, keeping the caller's order. */
export function withDefaultEnv(env: string[], home: string, tty = false): string[] {
  const out = [...env];
  if (!out.some((e) => e.startsWith('PATH='))) out.unshift(`PATH=${DEFAULT_PATH}`);
  if (!out.some((e) => e.startsWith('HOME='))) out.push(`HOME=${home}`);
  if (tty && !out.some((e) => e.startsWith('TERM='))) out.push('TERM=xterm');
  return out;
}

/** The 32-bit ABIs this host's kernel does not run (compat-abis.ts). */
function missingAbis(): { ia32: boolean; x32: boolean } {
  const abis = hostCompatAbis();
  return { ia32: !abis.ia32, x32: !abis.x32 };
}

/** Builds config.json for `runc run`. */
export function buildSpec(input: SpecInput): Record<string, unknown> {
  const priv = input.privileged;
  const namespaces: Array<{ type: string; path?: string }> = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (input.network === 'new') namespaces.push({ type: 'network' });
  else if (typeof input.network === 'object') namespaces.push({ type: 'network', path: input.network.path });

  const mounts: Array<Record<string, unknown>> = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', ...(priv ? [] : ['ro'])] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: [...(priv ? [] : ['ro']), 'nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/etc/resolv.conf', type: 'bind', source: input.etcFiles.resolvConf, options: ['rbind', 'rprivate'] },
    { destination: '/etc/hostname', type: 'bind', source: input.etcFiles.hostname, options: ['rbind', 'rprivate'] },
    { destination: '/etc/hosts', type: 'bind', source: input.etcFiles.hosts, options: ['rbind', 'rprivate'] },
  ];
  for (const m of input.mounts) {
    if (m.type === 'tmpfs') {
      mounts.push({ destination: m.target, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', ...(m.readonly ? ['ro'] : []), ...(m.options ?? [])] });
    } else {
      mounts.push({
        destination: m.target,
        type: 'bind',
        source: m.source,
        options: ['rbind', 'rprivate', ...(m.readonly ? ['ro'] : []), ...(m.options ?? [])],
      });
    }
  }

  const resources: Record<string, unknown> = { devices: [{ allow: Boolean(priv), access: 'rwm' }] };
  const l = input.limits ?? {};
  if (l.memoryBytes) resources.memory = { limit: l.memoryBytes };
  if (l.cpus) resources.cpu = { quota: Math.round(l.cpus * 100_000), period: 100_000 };
  if (l.pids) resources.pids = { limit: l.pids };

  const caps = priv
    ? [...(input.hostCapabilities ?? ALL_CAPABILITIES)]
    : adjustCapabilities(DEFAULT_CAPABILITIES, input.capAdd ?? [], input.capDrop ?? [], input.hostCapabilities);
  // As Docker: the profile's capability-gated rules follow the bounding set (so `--cap-add SYS_ADMIN` allows mount).
  const sc = priv ? 'unconfined' : (input.seccomp ?? 'default');
  // A profile the user gave is applied as written; Docker's own leaves out the 32-bit ABIs this kernel does not run.
  const seccomp = sc === 'unconfined' ? undefined : seccompFor(caps, process.arch, sc === 'default' ? { withoutAbis: missingAbis() } : { profile: sc.profile });
  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: input.tty,
      ...(input.tty && input.consoleSize ? { consoleSize: { height: input.consoleSize[0], width: input.consoleSize[1] } } : {}),
      user: { uid: input.user.uid, gid: input.user.gid, ...(input.user.additionalGids.length ? { additionalGids: input.user.additionalGids } : {}) },
      args: input.args,
      env: withDefaultEnv(input.env, input.user.home, input.tty),
      cwd: input.cwd,
      // Docker leaves inheritable and ambient empty (CVE-2022-24769); a non-root process thus runs with no effective caps.
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: input.nofileLimit, soft: input.nofileLimit }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: Boolean(input.readonlyRootfs) },
    hostname: input.hostname,
    mounts,
    linux: {
      namespaces,
      cgroupsPath: input.cgroupsPath,
      resources,
      maskedPaths: priv ? [] : MASKED_PATHS,
      readonlyPaths: priv ? [] : READONLY_PATHS,
      ...(priv ? { devices: priv.devices } : {}),
      ...(seccomp ? { seccomp } : {}),
    },
  };
}
