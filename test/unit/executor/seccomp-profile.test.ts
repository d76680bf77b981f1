import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ALLOWED_SOCKET_DOMAINS, DEFAULT_SECCOMP_PROFILE, seccompFor, type OciSeccomp } from '../../../src/sandbox/seccomp-profile.js';
import { parseSeccompProfile, parseSecurityOpts } from '../../../src/sandbox/security-opt.js';
import { ALL_CAPABILITIES, buildSpec, DEFAULT_CAPABILITIES, type SpecInput } from '../../../src/sandbox/spec.js';
import { hostCompatAbis } from '../../../src/sandbox/compat-abis.js';
import { rejects, throwsCode } from '../../helpers/assert.js';

/** What the filter does with `name(args…)`: the first matching rule's action, as runc's libseccomp would pick an allow over the default. */
function verdict(sc: OciSeccomp, name: string, args: number[] = []): string {
  const ok = (op: string, a: number, v: number, v2 = 0) =>
    (
      ({
        SCMP_CMP_EQ: a === v,
        SCMP_CMP_NE: a !== v,
        SCMP_CMP_LT: a < v,
        SCMP_CMP_LE: a <= v,
        SCMP_CMP_GT: a > v,
        SCMP_CMP_GE: a >= v,
        SCMP_CMP_MASKED_EQ: (a & v) === v2,
      }) as Record<string, boolean>
    )[op];
  const hits = sc.syscalls.filter((r) => r.names.includes(name) && (r.args ?? []).every((c) => ok(c.op, args[c.index] ?? 0, c.value, c.valueTwo)));
  const allow = hits.find((r) => r.action === 'SCMP_ACT_ALLOW');
  if (allow) return 'allow';
  if (hits[0]) return `${hits[0].action}:${hits[0].errnoRet}`;
  return `${sc.defaultAction}:${sc.defaultErrnoRet}`;
}

const x64 = (caps: string[] = DEFAULT_CAPABILITIES) => seccompFor(caps, 'x64', { kernel: '6.1.0-18-amd64' });

test('the default profile is an allowlist: anything unlisted fails with EPERM, on x86_64 with its 32-bit and x32 ABIs', () => {
  const sc = x64();
  assert.is(sc.defaultAction, 'SCMP_ACT_ERRNO');
  assert.is(sc.defaultErrnoRet, 1);
  assert.equal(sc.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  for (const ok of ['read', 'execve', 'openat', 'clone', 'wait4', 'arch_prctl', 'ptrace', 'chroot']) assert.is(verdict(sc, ok), 'allow', ok);
  for (const blocked of [
    'mount',
    'unshare',
    'setns',
    'keyctl',
    'add_key',
    'swapon',
    'reboot',
    'init_module',
    'kexec_load',
    'bpf',
    'userfaultfd',
    'pivot_root',
    'open_by_handle_at',
    'acct',
    'settimeofday',
  ]) {
    assert.is(verdict(sc, blocked), 'SCMP_ACT_ERRNO:1', blocked);
  }
});

test('a 32-bit ABI the kernel does not run is left out of the default filter, the rules unchanged; buildSpec asks the host', () => {
  const at = (withoutAbis: { ia32?: boolean; x32?: boolean }) => seccompFor(DEFAULT_CAPABILITIES, 'x64', { kernel: '6.1.0-18-amd64', withoutAbis });
  assert.equal(at({ x32: true }).architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86']);
  assert.equal(at({ ia32: true }).architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X32']);
  assert.equal(at({ ia32: true, x32: true }).architectures, ['SCMP_ARCH_X86_64']);
  assert.equal(at({ ia32: true, x32: true }).syscalls, x64().syscalls, 'the same rules');
  assert.equal(seccompFor(DEFAULT_CAPABILITIES, 'arm64', { kernel: '6.1', withoutAbis: { ia32: true, x32: true } }).architectures, [
    'SCMP_ARCH_AARCH64',
    'SCMP_ARCH_ARM',
  ]);
  if (process.arch === 'x64') {
    const abis = hostCompatAbis();
    const expected = ['SCMP_ARCH_X86_64', ...(abis.ia32 ? ['SCMP_ARCH_X86'] : []), ...(abis.x32 ? ['SCMP_ARCH_X32'] : [])];
    assert.equal((buildSpec(specBase) as any).linux.seccomp.architectures, expected);
  }
  const user = { defaultAction: 'SCMP_ACT_ERRNO' as const, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'], syscalls: [] };
  assert.equal((buildSpec({ ...specBase, seccomp: { profile: user } }) as any).linux.seccomp.architectures, user.architectures, "a user's profile as written");
});

test('aarch64 gets its 32-bit ARM ABI and the ARM-only syscalls, not the x86 ones', () => {
  const sc = seccompFor(DEFAULT_CAPABILITIES, 'arm64', { kernel: '6.1' });
  assert.equal(sc.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  assert.is(verdict(sc, 'set_tls'), 'allow');
  assert.not.ok(sc.syscalls.some((r) => r.names.includes('arch_prctl') || r.names.includes('modify_ldt')));
});

test('clone may not create namespaces without CAP_SYS_ADMIN, and clone3 answers ENOSYS so libc falls back to clone', () => {
  const sc = x64();
  const CLONE_NEWUSER = 0x10000000;
  const CLONE_THREAD_FLAGS = 0x3d0f00;
  assert.is(verdict(sc, 'clone', [CLONE_THREAD_FLAGS]), 'allow');
  assert.is(verdict(sc, 'clone', [CLONE_NEWUSER | 0x11]), 'SCMP_ACT_ERRNO:1');
  assert.is(verdict(sc, 'clone3'), 'SCMP_ACT_ERRNO:38');
});

test('capabilities open their groups: SYS_ADMIN mount/unshare/setns and full clone, SYS_PTRACE kcmp, SYS_BOOT reboot, SYS_TIME settimeofday', () => {
  const admin = x64([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN']);
  for (const s of ['mount', 'umount2', 'unshare', 'setns', 'clone3', 'sethostname']) assert.is(verdict(admin, s), 'allow', s);
  assert.is(verdict(admin, 'clone', [0x10000000]), 'allow');
  assert.not.ok(
    admin.syscalls.some((r) => r.names.includes('clone3') && r.action === 'SCMP_ACT_ERRNO'),
    'no ENOSYS rule with the capability',
  );
  assert.is(verdict(x64([...DEFAULT_CAPABILITIES, 'CAP_SYS_PTRACE']), 'kcmp'), 'allow');
  assert.is(verdict(x64([...DEFAULT_CAPABILITIES, 'CAP_SYS_BOOT']), 'reboot'), 'allow');
  assert.is(verdict(x64([...DEFAULT_CAPABILITIES, 'CAP_SYS_TIME']), 'settimeofday'), 'allow');
  assert.is(verdict(x64(DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_SYS_CHROOT')), 'chroot'), 'SCMP_ACT_ERRNO:1', 'dropping SYS_CHROOT closes chroot');
  const all = x64(ALL_CAPABILITIES);
  for (const s of ['bpf', 'perf_event_open', 'syslog', 'iopl', 'init_module', 'acct', 'vhangup', 'mbind', 'open_by_handle_at'])
    assert.is(verdict(all, s), 'allow', s);
  assert.is(verdict(all, 'keyctl'), 'SCMP_ACT_ERRNO:1', 'no capability allows what no group lists');
});

test('ptrace and process_vm_* need kernel 4.8 or newer unless CAP_SYS_PTRACE is held', () => {
  assert.is(verdict(seccompFor(DEFAULT_CAPABILITIES, 'x64', { kernel: '4.4.0-210-generic' }), 'ptrace'), 'SCMP_ACT_ERRNO:1');
  assert.is(verdict(seccompFor(DEFAULT_CAPABILITIES, 'x64', { kernel: '4.8.0' }), 'ptrace'), 'allow');
  assert.is(verdict(seccompFor([...DEFAULT_CAPABILITIES, 'CAP_SYS_PTRACE'], 'x64', { kernel: '4.4' }), 'process_vm_readv'), 'allow');
});

test('socket() is allowed for the listed domains only: AF_ALG and AF_VSOCK are refused, socketcall is not filterable', () => {
  const sc = x64();
  for (let d = 1; d <= 46; d++) assert.is(verdict(sc, 'socket', [d]) === 'allow', ALLOWED_SOCKET_DOMAINS.includes(d), `domain ${d}`);
  assert.is(verdict(sc, 'socket', [38]), 'SCMP_ACT_ERRNO:1');
  assert.is(verdict(sc, 'socket', [40]), 'SCMP_ACT_ERRNO:1');
  assert.ok(sc.syscalls.filter((r) => r.names.includes('socket')).length < ALLOWED_SOCKET_DOMAINS.length, 'the run from AF_UNIX is one rule');
});

test('personality() only for Linux, PER_LINUX32, UNAME26 and the query', () => {
  const sc = x64();
  for (const v of [0, 8, 0x20000, 0x20008, 0xffffffff]) assert.is(verdict(sc, 'personality', [v]), 'allow', String(v));
  assert.is(verdict(sc, 'personality', [0x0400000]), 'SCMP_ACT_ERRNO:1', 'READ_IMPLIES_EXEC is refused');
});

test('every rule of the default profile names syscalls and an action', () => {
  for (const r of DEFAULT_SECCOMP_PROFILE.syscalls ?? []) assert.ok((r.names?.length ?? 0) > 0 && r.action);
});

const specBase: SpecInput = {
  args: ['true'],
  env: [],
  cwd: '/',
  user: { uid: 0, gid: 0, additionalGids: [], home: '/root' },
  tty: false,
  hostname: 'h',
  etcFiles: { hosts: '/b/h', resolvConf: '/b/r', hostname: '/b/n' },
  network: 'new',
  mounts: [],
  cgroupsPath: '/k/x',
  nofileLimit: 1024,
};

test('buildSpec() adds the default filter for its capabilities, none when unconfined, a user profile as given', () => {
  const d = buildSpec(specBase) as any;
  assert.is(d.linux.seccomp.defaultAction, 'SCMP_ACT_ERRNO');
  assert.is(
    d.linux.seccomp.syscalls.some((r: any) => r.names.includes('mount')),
    false,
  );
  const admin = buildSpec({ ...specBase, capAdd: ['sys_admin'] }) as any;
  assert.is(
    admin.linux.seccomp.syscalls.some((r: any) => r.names.includes('mount')),
    true,
  );
  assert.is((buildSpec({ ...specBase, seccomp: 'unconfined' }) as any).linux.seccomp, undefined);
  const user = buildSpec({
    ...specBase,
    seccomp: { profile: { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ name: 'mkdir', action: 'SCMP_ACT_ERRNO' }] } },
  }) as any;
  assert.equal(user.linux.seccomp, {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_X86_64'],
    syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }],
  });
});

test("adjustCapabilities() grants the given set for ALL: the host's bounding set, not every capability runc knows", async () => {
  const { adjustCapabilities } = await import('../../../src/sandbox/spec.js');
  const host = ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE');
  assert.equal(adjustCapabilities(DEFAULT_CAPABILITIES, ['ALL'], [], host), host);
  assert.equal(adjustCapabilities(DEFAULT_CAPABILITIES, ['ALL'], []), ALL_CAPABILITIES);
  assert.equal((buildSpec({ ...specBase, capAdd: ['ALL'], hostCapabilities: host }) as any).process.capabilities.bounding, host);
});

test('parseSecurityOpts() reads seccomp=unconfined|builtin, accepts no-new-privileges, refuses the rest', async () => {
  assert.equal(await parseSecurityOpts(['seccomp=unconfined']), { seccomp: 'unconfined' });
  assert.equal(await parseSecurityOpts(['seccomp:unconfined', 'no-new-privileges']), { seccomp: 'unconfined' });
  assert.equal(await parseSecurityOpts(['seccomp=builtin']), { seccomp: 'default' });
  assert.equal(await parseSecurityOpts([]), {});
  await rejects(() => parseSecurityOpts(['apparmor=unconfined']), 'INVALID_ARGUMENT', /invalid --security-opt/);
  await rejects(() => parseSecurityOpts(['no-new-privileges=false']), 'INVALID_ARGUMENT');
  await rejects(() => parseSecurityOpts(['seccomp=/nonexistent/profile.json']), 'NOT_FOUND', /\/nonexistent\/profile\.json/);
});

test('parseSeccompProfile() names the file and the bad rule', () => {
  throwsCode(() => parseSeccompProfile('{', 'p.json'), 'INVALID_ARGUMENT', /p\.json: not valid JSON/);
  throwsCode(() => parseSeccompProfile('{"defaultAction":"DENY"}', 'p.json'), 'INVALID_ARGUMENT', /unknown defaultAction/);
  throwsCode(
    () =>
      parseSeccompProfile('{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}', 'p.json'),
    'INVALID_ARGUMENT',
    /both/,
  );
  throwsCode(
    () =>
      parseSeccompProfile(
        '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ERRNO","args":[{"index":9,"value":1,"op":"SCMP_CMP_EQ"}]}]}',
        'p.json',
      ),
    'INVALID_ARGUMENT',
    /syscalls\[0\]: bad argument filter/,
  );
  throwsCode(
    () => parseSeccompProfile('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"action":"SCMP_ACT_ERRNO"}]}', 'p.json'),
    'INVALID_ARGUMENT',
    /no syscall names/,
  );
  assert.is(parseSeccompProfile(JSON.stringify(DEFAULT_SECCOMP_PROFILE), 'default.json').syscalls?.length, DEFAULT_SECCOMP_PROFILE.syscalls?.length);
});

test.run();
