/**
 * Docker's default seccomp profile (moby/profiles seccomp/default_linux.go), as data, and the step that turns a
 * profile in Docker's format into the OCI `linux.seccomp` runc applies.
 *
 * The profile is an allowlist: any syscall not listed fails with EPERM (`defaultErrnoRet: 1`). Some groups are
 * allowed only when the container holds a capability (mount and unshare with CAP_SYS_ADMIN, ptrace with
 * CAP_SYS_PTRACE, reboot with CAP_SYS_BOOT, …), so `--cap-add` also widens the filter, as in Docker. Names
 * libseccomp does not know (syscalls newer than the host's) are skipped by runc, so the list may run ahead of
 * the kernel. Pure: no I/O.
 */
import { release } from 'node:os';

export type SeccompAction =
  | 'SCMP_ACT_ALLOW'
  | 'SCMP_ACT_ERRNO'
  | 'SCMP_ACT_KILL'
  | 'SCMP_ACT_KILL_PROCESS'
  | 'SCMP_ACT_KILL_THREAD'
  | 'SCMP_ACT_TRAP'
  | 'SCMP_ACT_TRACE'
  | 'SCMP_ACT_LOG'
  | 'SCMP_ACT_NOTIFY';
export type SeccompOp = 'SCMP_CMP_NE' | 'SCMP_CMP_LT' | 'SCMP_CMP_LE' | 'SCMP_CMP_EQ' | 'SCMP_CMP_GE' | 'SCMP_CMP_GT' | 'SCMP_CMP_MASKED_EQ';

/** One comparison on a syscall argument; several on one rule must all hold. */
export interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: SeccompOp;
}

/** When a rule of Docker's format applies: every listed capability held, the host's arch listed, a kernel at least this. */
export interface RuleFilter {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

/** A rule in Docker's profile format (`name` is the older spelling of a one-name `names`). */
export interface DockerSyscallRule {
  names?: string[];
  name?: string;
  action: SeccompAction;
  errnoRet?: number;
  args?: SeccompArg[] | null;
  comment?: string;
  includes?: RuleFilter;
  excludes?: RuleFilter;
}

/** A profile as `docker run --security-opt seccomp=FILE` reads it. */
export interface DockerSeccompProfile {
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  /** Native arch → the arches its processes may also use (32-bit, x32); or a flat `architectures` list. */
  archMap?: Array<{ architecture: string; subArchitectures?: string[] | null }>;
  architectures?: string[];
  flags?: string[];
  listenerPath?: string;
  syscalls?: DockerSyscallRule[];
}

/** The OCI runtime spec's `linux.seccomp`. */
export interface OciSeccomp {
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  architectures: string[];
  flags?: string[];
  syscalls: Array<{ names: string[]; action: SeccompAction; errnoRet?: number; args?: SeccompArg[] }>;
}

const EPERM = 1;
const ENOSYS = 38;
/** CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP. */
const CLONE_NAMESPACE_FLAGS = 0x7e020000;

/** Allowed to everyone: what ordinary programs (shells, servers, compilers, package managers) call. */
const ALLOWED = [
  'accept',
  'accept4',
  'access',
  'adjtimex',
  'alarm',
  'bind',
  'brk',
  'cachestat',
  'capget',
  'capset',
  'chdir',
  'chmod',
  'chown',
  'chown32',
  'clock_adjtime',
  'clock_adjtime64',
  'clock_getres',
  'clock_getres_time64',
  'clock_gettime',
  'clock_gettime64',
  'clock_nanosleep',
  'clock_nanosleep_time64',
  'close',
  'close_range',
  'connect',
  'copy_file_range',
  'creat',
  'dup',
  'dup2',
  'dup3',
  'epoll_create',
  'epoll_create1',
  'epoll_ctl',
  'epoll_ctl_old',
  'epoll_pwait',
  'epoll_pwait2',
  'epoll_wait',
  'epoll_wait_old',
  'eventfd',
  'eventfd2',
  'execve',
  'execveat',
  'exit',
  'exit_group',
  'faccessat',
  'faccessat2',
  'fadvise64',
  'fadvise64_64',
  'fallocate',
  'fanotify_mark',
  'fchdir',
  'fchmod',
  'fchmodat',
  'fchmodat2',
  'fchown',
  'fchown32',
  'fchownat',
  'fcntl',
  'fcntl64',
  'fdatasync',
  'fgetxattr',
  'flistxattr',
  'flock',
  'fork',
  'fremovexattr',
  'fsetxattr',
  'fstat',
  'fstat64',
  'fstatat64',
  'fstatfs',
  'fstatfs64',
  'fsync',
  'ftruncate',
  'ftruncate64',
  'futex',
  'futex_requeue',
  'futex_time64',
  'futex_wait',
  'futex_waitv',
  'futex_wake',
  'futimesat',
  'getcpu',
  'getcwd',
  'getdents',
  'getdents64',
  'getegid',
  'getegid32',
  'geteuid',
  'geteuid32',
  'getgid',
  'getgid32',
  'getgroups',
  'getgroups32',
  'getitimer',
  'getpeername',
  'getpgid',
  'getpgrp',
  'getpid',
  'getppid',
  'getpriority',
  'getrandom',
  'getresgid',
  'getresgid32',
  'getresuid',
  'getresuid32',
  'getrlimit',
  'get_robust_list',
  'getrusage',
  'getsid',
  'getsockname',
  'getsockopt',
  'get_thread_area',
  'gettid',
  'gettimeofday',
  'getuid',
  'getuid32',
  'getxattr',
  'getxattrat',
  'inotify_add_watch',
  'inotify_init',
  'inotify_init1',
  'inotify_rm_watch',
  'io_cancel',
  'ioctl',
  'io_destroy',
  'io_getevents',
  'io_pgetevents',
  'io_pgetevents_time64',
  'ioprio_get',
  'ioprio_set',
  'io_setup',
  'io_submit',
  'ipc',
  'kill',
  'landlock_add_rule',
  'landlock_create_ruleset',
  'landlock_restrict_self',
  'lchown',
  'lchown32',
  'lgetxattr',
  'link',
  'linkat',
  'listen',
  'listmount',
  'listxattr',
  'listxattrat',
  'llistxattr',
  '_llseek',
  'lremovexattr',
  'lseek',
  'lsetxattr',
  'lstat',
  'lstat64',
  'madvise',
  'map_shadow_stack',
  'membarrier',
  'memfd_create',
  'memfd_secret',
  'mincore',
  'mkdir',
  'mkdirat',
  'mknod',
  'mknodat',
  'mlock',
  'mlock2',
  'mlockall',
  'mmap',
  'mmap2',
  'mprotect',
  'mq_getsetattr',
  'mq_notify',
  'mq_open',
  'mq_timedreceive',
  'mq_timedreceive_time64',
  'mq_timedsend',
  'mq_timedsend_time64',
  'mq_unlink',
  'mremap',
  'mseal',
  'msgctl',
  'msgget',
  'msgrcv',
  'msgsnd',
  'msync',
  'munlock',
  'munlockall',
  'munmap',
  'name_to_handle_at',
  'nanosleep',
  'newfstatat',
  '_newselect',
  'open',
  'openat',
  'openat2',
  'pause',
  'pidfd_open',
  'pidfd_send_signal',
  'pipe',
  'pipe2',
  'pkey_alloc',
  'pkey_free',
  'pkey_mprotect',
  'poll',
  'ppoll',
  'ppoll_time64',
  'prctl',
  'pread64',
  'preadv',
  'preadv2',
  'prlimit64',
  'process_mrelease',
  'pselect6',
  'pselect6_time64',
  'pwrite64',
  'pwritev',
  'pwritev2',
  'read',
  'readahead',
  'readlink',
  'readlinkat',
  'readv',
  'recv',
  'recvfrom',
  'recvmmsg',
  'recvmmsg_time64',
  'recvmsg',
  'remap_file_pages',
  'removexattr',
  'removexattrat',
  'rename',
  'renameat',
  'renameat2',
  'restart_syscall',
  'riscv_hwprobe',
  'rmdir',
  'rseq',
  'rt_sigaction',
  'rt_sigpending',
  'rt_sigprocmask',
  'rt_sigqueueinfo',
  'rt_sigreturn',
  'rt_sigsuspend',
  'rt_sigtimedwait',
  'rt_sigtimedwait_time64',
  'rt_tgsigqueueinfo',
  'sched_getaffinity',
  'sched_getattr',
  'sched_getparam',
  'sched_get_priority_max',
  'sched_get_priority_min',
  'sched_getscheduler',
  'sched_rr_get_interval',
  'sched_rr_get_interval_time64',
  'sched_setaffinity',
  'sched_setattr',
  'sched_setparam',
  'sched_setscheduler',
  'sched_yield',
  'seccomp',
  'select',
  'semctl',
  'semget',
  'semop',
  'semtimedop',
  'semtimedop_time64',
  'send',
  'sendfile',
  'sendfile64',
  'sendmmsg',
  'sendmsg',
  'sendto',
  'setfsgid',
  'setfsgid32',
  'setfsuid',
  'setfsuid32',
  'setgid',
  'setgid32',
  'setgroups',
  'setgroups32',
  'setitimer',
  'setpgid',
  'setpriority',
  'setregid',
  'setregid32',
  'setresgid',
  'setresgid32',
  'setresuid',
  'setresuid32',
  'setreuid',
  'setreuid32',
  'setrlimit',
  'set_robust_list',
  'setsid',
  'setsockopt',
  'set_thread_area',
  'set_tid_address',
  'setuid',
  'setuid32',
  'setxattr',
  'setxattrat',
  'shmat',
  'shmctl',
  'shmdt',
  'shmget',
  'shutdown',
  'sigaltstack',
  'signalfd',
  'signalfd4',
  'sigprocmask',
  'sigreturn',
  'socketcall',
  'socketpair',
  'splice',
  'stat',
  'stat64',
  'statfs',
  'statfs64',
  'statmount',
  'statx',
  'symlink',
  'symlinkat',
  'sync',
  'sync_file_range',
  'syncfs',
  'sysinfo',
  'tee',
  'tgkill',
  'time',
  'timer_create',
  'timer_delete',
  'timer_getoverrun',
  'timer_gettime',
  'timer_gettime64',
  'timer_settime',
  'timer_settime64',
  'timerfd_create',
  'timerfd_gettime',
  'timerfd_gettime64',
  'timerfd_settime',
  'timerfd_settime64',
  'times',
  'tkill',
  'truncate',
  'truncate64',
  'ugetrlimit',
  'umask',
  'uname',
  'unlink',
  'unlinkat',
  'uretprobe',
  'utime',
  'utimensat',
  'utimensat_time64',
  'utimes',
  'vfork',
  'vmsplice',
  'wait4',
  'waitid',
  'waitpid',
  'write',
  'writev',
];

/**
 * socket(2) domains Docker allows, by number. Left out on purpose: AF_ALG (the kernel crypto API, a frequent
 * source of kernel bugs no ordinary container needs) and AF_VSOCK (host/guest sockets, not namespaced on most
 * kernels); the others left out no longer exist in the kernel (DECnet 12, ECONET 19, ATMSVC 20, IRDA 23,
 * WANPIPE 25, ISDN 34, CAIF 37). socketcall(2) hides its arguments behind a pointer, so this applies only to
 * socket(2) itself.
 */
export const ALLOWED_SOCKET_DOMAINS = [
  1 /* UNIX */, 2 /* INET */, 3 /* AX25 */, 4 /* IPX */, 5 /* APPLETALK */, 6 /* NETROM */, 7 /* BRIDGE */, 8 /* ATMPVC */, 9 /* X25 */, 10 /* INET6 */,
  11 /* ROSE */, 13 /* NETBEUI */, 14 /* SECURITY */, 15 /* KEY */, 16 /* NETLINK */, 17 /* PACKET */, 18 /* ASH */, 21 /* RDS */, 22 /* SNA */, 24 /* PPPOX */,
  26 /* LLC */, 27 /* IB */, 28 /* MPLS */, 29 /* CAN */, 30 /* TIPC */, 31 /* BLUETOOTH */, 32 /* IUCV */, 33 /* RXRPC */, 35 /* PHONET */,
  36 /* IEEE802154 */, 39 /* NFC */, 41 /* KCM */, 42 /* QIPCRTR */, 43 /* SMC */, 44 /* XDP */, 45 /* MCTP */,
];

/**
 * socket(2) rules for a sorted domain list: one `domain < N` for the run starting at AF_UNIX (domain 0 cannot be
 * created), then one equality per other domain. runc ORs several comparisons on the same argument, so a bounded
 * range (`>= a` and `< b`) cannot be expressed; equalities can.
 */
function socketRules(domains: number[]): DockerSyscallRule[] {
  const rule = (value: number, op: SeccompOp): DockerSyscallRule => ({ names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value, op }] });
  // `end`: index of the last domain in the unbroken run from AF_UNIX (1); the run becomes one `<` rule.
  let end = 0;
  if (domains[0] === 1) while (domains[end + 1] === domains[end]! + 1) end++;
  if (end === 0) return domains.map((d) => rule(d, 'SCMP_CMP_EQ'));
  return [rule(domains[end]! + 1, 'SCMP_CMP_LT'), ...domains.slice(end + 1).map((d) => rule(d, 'SCMP_CMP_EQ'))];
}

const allow = (names: string[], includes?: RuleFilter, excludes?: RuleFilter): DockerSyscallRule => ({
  names,
  action: 'SCMP_ACT_ALLOW',
  ...(includes ? { includes } : {}),
  ...(excludes ? { excludes } : {}),
});
const personality = (value: number): DockerSyscallRule => ({
  names: ['personality'],
  action: 'SCMP_ACT_ALLOW',
  args: [{ index: 0, value, op: 'SCMP_CMP_EQ' }],
});

/** Docker's default profile. Groups gated on a capability are the ones a `--cap-add` of that capability opens. */
export const DEFAULT_SECCOMP_PROFILE: DockerSeccompProfile = {
  defaultAction: 'SCMP_ACT_ERRNO',
  defaultErrnoRet: EPERM,
  archMap: [
    { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
    { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
    { architecture: 'SCMP_ARCH_MIPS64', subArchitectures: ['SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64N32'] },
    { architecture: 'SCMP_ARCH_MIPS64N32', subArchitectures: ['SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64'] },
    { architecture: 'SCMP_ARCH_MIPSEL64', subArchitectures: ['SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64N32'] },
    { architecture: 'SCMP_ARCH_MIPSEL64N32', subArchitectures: ['SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64'] },
    { architecture: 'SCMP_ARCH_S390X', subArchitectures: ['SCMP_ARCH_S390'] },
    { architecture: 'SCMP_ARCH_RISCV64', subArchitectures: [] },
    { architecture: 'SCMP_ARCH_LOONGARCH64', subArchitectures: [] },
  ],
  syscalls: [
    allow(ALLOWED),
    // Before 4.8 seccomp could be bypassed with ptrace; from then on ptrace is only as strong as the caps it has.
    allow(['process_vm_readv', 'process_vm_writev', 'ptrace'], { minKernel: '4.8' }),
    ...socketRules(ALLOWED_SOCKET_DOMAINS),
    // The default personality, PER_LINUX32 (linux32), UNAME26, their combination, and the query (0xffffffff).
    ...[0x0, 0x0008, 0x20000, 0x20008, 0xffffffff].map(personality),
    allow(['sync_file_range2', 'swapcontext'], { arches: ['ppc64le'] }),
    allow(['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls'], { arches: ['arm', 'arm64'] }),
    allow(['arch_prctl'], { arches: ['amd64', 'x32'] }),
    allow(['modify_ldt'], { arches: ['amd64', 'x32', 'x86'] }),
    allow(['s390_pci_mmio_read', 's390_pci_mmio_write', 's390_runtime_instr'], { arches: ['s390', 's390x'] }),
    allow(['riscv_flush_icache'], { arches: ['riscv64'] }),
    allow(['open_by_handle_at'], { caps: ['CAP_DAC_READ_SEARCH'] }),
    allow(
      [
        'bpf',
        'clone',
        'clone3',
        'fanotify_init',
        'fsconfig',
        'fsmount',
        'fsopen',
        'fspick',
        'lookup_dcookie',
        'lsm_get_self_attr',
        'lsm_list_modules',
        'lsm_set_self_attr',
        'mount',
        'mount_setattr',
        'move_mount',
        'open_tree',
        'perf_event_open',
        'quotactl',
        'quotactl_fd',
        'setdomainname',
        'sethostname',
        'setns',
        'syslog',
        'umount',
        'umount2',
        'unshare',
      ],
      { caps: ['CAP_SYS_ADMIN'] },
    ),
    // Without CAP_SYS_ADMIN, clone may make threads and processes but no namespaces (s390 swaps the first two arguments).
    {
      names: ['clone'],
      action: 'SCMP_ACT_ALLOW',
      args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
      excludes: { caps: ['CAP_SYS_ADMIN'], arches: ['s390', 's390x'] },
    },
    {
      names: ['clone'],
      action: 'SCMP_ACT_ALLOW',
      args: [{ index: 1, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
      comment: 's390 parameter ordering for clone is different',
      includes: { arches: ['s390', 's390x'] },
      excludes: { caps: ['CAP_SYS_ADMIN'] },
    },
    // clone3 passes its flags in memory seccomp cannot read: ENOSYS makes libc fall back to clone, which is checked.
    { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS, excludes: { caps: ['CAP_SYS_ADMIN'] } },
    allow(['reboot'], { caps: ['CAP_SYS_BOOT'] }),
    allow(['chroot'], { caps: ['CAP_SYS_CHROOT'] }),
    allow(['delete_module', 'init_module', 'finit_module'], { caps: ['CAP_SYS_MODULE'] }),
    allow(['acct'], { caps: ['CAP_SYS_PACCT'] }),
    allow(['kcmp', 'pidfd_getfd', 'process_madvise', 'process_vm_readv', 'process_vm_writev', 'ptrace'], { caps: ['CAP_SYS_PTRACE'] }),
    allow(['iopl', 'ioperm'], { caps: ['CAP_SYS_RAWIO'] }),
    allow(['settimeofday', 'stime', 'clock_settime', 'clock_settime64'], { caps: ['CAP_SYS_TIME'] }),
    allow(['vhangup'], { caps: ['CAP_SYS_TTY_CONFIG'] }),
    allow(['get_mempolicy', 'mbind', 'set_mempolicy', 'set_mempolicy_home_node'], { caps: ['CAP_SYS_NICE'] }),
    allow(['syslog'], { caps: ['CAP_SYSLOG'] }),
    allow(['bpf'], { caps: ['CAP_BPF'] }),
    allow(['perf_event_open'], { caps: ['CAP_PERFMON'] }),
  ],
};

/** Go's names for Node's `process.arch` values: the ones rule `arches` filters use. */
const GO_ARCH: Record<string, string> = {
  x64: 'amd64',
  ia32: '386',
  arm64: 'arm64',
  arm: 'arm',
  s390x: 's390x',
  ppc64: 'ppc64le',
  riscv64: 'riscv64',
  loong64: 'loong64',
  mips: 'mips',
  mipsel: 'mipsle',
};
/** libseccomp's native architecture for each `process.arch`. */
const NATIVE_SCMP_ARCH: Record<string, string> = {
  x64: 'SCMP_ARCH_X86_64',
  ia32: 'SCMP_ARCH_X86',
  arm64: 'SCMP_ARCH_AARCH64',
  arm: 'SCMP_ARCH_ARM',
  s390x: 'SCMP_ARCH_S390X',
  ppc64: 'SCMP_ARCH_PPC64LE',
  riscv64: 'SCMP_ARCH_RISCV64',
  loong64: 'SCMP_ARCH_LOONGARCH64',
};

/** `a.b[.c]` ≥ `min`, by numbers (a kernel release such as `6.1.0-18-amd64` counts as 6.1.0). */
function kernelAtLeast(kernel: string, min: string): boolean {
  const k = kernel.split(/[.-]/).map((x) => parseInt(x, 10) || 0);
  const m = min.split('.').map((x) => parseInt(x, 10) || 0);
  for (let i = 0; i < m.length; i++) {
    if ((k[i] ?? 0) !== m[i]) return (k[i] ?? 0) > m[i]!;
  }
  return true;
}

export interface SeccompForOptions {
  /** A profile in Docker's format (`--security-opt seccomp=FILE`); default Docker's own. */
  profile?: DockerSeccompProfile;
  /** Kernel release for `minKernel` filters; default this host's. */
  kernel?: string;
  /** 32-bit ABIs the kernel does not run (compat-abis.ts), left out where the profile lists them; default none. */
  withoutAbis?: { ia32?: boolean; x32?: boolean };
}

/**
 * The OCI `linux.seccomp` for a container whose bounding set is `capabilities`, on `arch` (`process.arch`
 * spelling): Docker's rule selection. A rule is kept when the container holds every capability in its
 * `includes.caps`, the arch is in `includes.arches` and the kernel is at least `includes.minKernel`, and dropped
 * when it holds any capability in `excludes.caps` or the arch is in `excludes.arches`.
 */
export function seccompFor(capabilities: readonly string[], arch: string = process.arch, opts: SeccompForOptions = {}): OciSeccomp {
  const profile = opts.profile ?? DEFAULT_SECCOMP_PROFILE;
  const kernel = opts.kernel ?? release();
  const goArch = GO_ARCH[arch] ?? arch;
  const native = NATIVE_SCMP_ARCH[arch];
  let architectures = profile.architectures ?? [];
  if (profile.archMap) {
    const entry = profile.archMap.find((a) => a.architecture === native);
    architectures = entry ? [entry.architecture, ...(entry.subArchitectures ?? [])] : [];
  }
  const drop = opts.withoutAbis ?? {};
  architectures = architectures.filter((a) => !(drop.ia32 && a === 'SCMP_ARCH_X86') && !(drop.x32 && a === 'SCMP_ARCH_X32'));
  const has = (c: string) => capabilities.includes(c);
  const syscalls: OciSeccomp['syscalls'] = [];
  for (const r of profile.syscalls ?? []) {
    const inc = r.includes ?? {};
    const exc = r.excludes ?? {};
    if (inc.caps?.length && !inc.caps.every(has)) continue;
    if (inc.arches?.length && !inc.arches.includes(goArch)) continue;
    if (inc.minKernel && !kernelAtLeast(kernel, inc.minKernel)) continue;
    if (exc.caps?.some(has)) continue;
    if (exc.arches?.includes(goArch)) continue;
    const names = r.names?.length ? r.names : r.name ? [r.name] : [];
    syscalls.push({
      names,
      action: r.action,
      ...(r.errnoRet !== undefined ? { errnoRet: r.errnoRet } : {}),
      ...(r.args?.length ? { args: r.args.map((a) => ({ index: a.index, value: a.value, valueTwo: a.valueTwo ?? 0, op: a.op })) } : {}),
    });
  }
  return {
    defaultAction: profile.defaultAction,
    ...(profile.defaultErrnoRet !== undefined ? { defaultErrnoRet: profile.defaultErrnoRet } : {}),
    architectures,
    ...(profile.flags?.length ? { flags: profile.flags } : {}),
    syscalls,
  };
}
