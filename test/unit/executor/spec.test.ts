import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  adjustCapabilities,
  ALL_CAPABILITIES,
  buildSpec,
  DEFAULT_CAPABILITIES,
  DEFAULT_PATH,
  MASKED_PATHS,
  READONLY_PATHS,
  withDefaultEnv,
  type SpecInput,
} from '../../../src/sandbox/spec.js';

const base: SpecInput = {
  args: ['sh', '-c', 'true'],
  env: ['A=1'],
  cwd: '/w',
  user: { uid: 1000, gid: 1000, additionalGids: [1000, 50], home: '/home/u' },
  tty: false,
  hostname: 'h',
  etcFiles: { hosts: '/b/hosts', resolvConf: '/b/resolv.conf', hostname: '/b/hostname' },
  network: 'new',
  mounts: [],
  cgroupsPath: '/kiln-x/id',
  nofileLimit: 20000,
};
const spec = (o: Partial<SpecInput> = {}) => buildSpec({ ...base, ...o }) as any;

test("withDefaultEnv() adds Docker's PATH and HOME only when missing", () => {
  assert.equal(withDefaultEnv(['A=1'], '/root'), [`PATH=${DEFAULT_PATH}`, 'A=1', 'HOME=/root']);
  assert.equal(withDefaultEnv(['PATH=/x', 'HOME=/h'], '/root'), ['PATH=/x', 'HOME=/h']);
});

test("the process gets Docker's 14 default capabilities, no inheritable or ambient ones, and no_new_privileges", () => {
  const p = spec().process;
  assert.is(DEFAULT_CAPABILITIES.length, 14);
  assert.equal(p.capabilities, { bounding: DEFAULT_CAPABILITIES, effective: DEFAULT_CAPABILITIES, permitted: DEFAULT_CAPABILITIES });
  assert.is(p.noNewPrivileges, true);
  assert.equal(p.user, { uid: 1000, gid: 1000, additionalGids: [1000, 50] });
  assert.equal(p.rlimits, [{ type: 'RLIMIT_NOFILE', hard: 20000, soft: 20000 }]);
});

test('namespaces follow the network mode', () => {
  const types = (o: Partial<SpecInput>) => spec(o).linux.namespaces;
  assert.equal(
    types({ network: 'new' }).map((n: any) => n.type),
    ['pid', 'ipc', 'uts', 'mount', 'network'],
  );
  assert.equal(
    types({ network: 'host' }).map((n: any) => n.type),
    ['pid', 'ipc', 'uts', 'mount'],
  );
  assert.equal(types({ network: { path: '/run/netns/x' } }).at(-1), { type: 'network', path: '/run/netns/x' });
});

test('mounts: proc, /dev tmpfs, devpts, read-only sysfs, mqueue, shm, the /etc files, then user mounts', () => {
  const m = spec({
    mounts: [
      { type: 'bind', source: '/h', target: '/c', readonly: true },
      { type: 'tmpfs', target: '/t' },
    ],
  }).mounts;
  assert.equal(
    m.map((x: any) => x.destination),
    ['/proc', '/dev', '/dev/pts', '/sys', '/sys/fs/cgroup', '/dev/mqueue', '/dev/shm', '/etc/resolv.conf', '/etc/hostname', '/etc/hosts', '/c', '/t'],
  );
  assert.ok(m[3].options.includes('ro'));
  assert.equal(m[10], { destination: '/c', type: 'bind', source: '/h', options: ['rbind', 'rprivate', 'ro'] });
  assert.is(m[11].type, 'tmpfs');
  assert.is(m[9].source, '/b/hosts');
});

test("masked and read-only paths are Docker's; limits become cgroup resources", () => {
  const s = spec({ limits: { memoryBytes: 1 << 26, cpus: 1.5, pids: 9 } });
  assert.equal(s.linux.maskedPaths, MASKED_PATHS);
  assert.equal(s.linux.readonlyPaths, READONLY_PATHS);
  assert.ok(MASKED_PATHS.includes('/proc/kcore') && READONLY_PATHS.includes('/proc/sys'));
  assert.equal(s.linux.resources.memory, { limit: 1 << 26 });
  assert.equal(s.linux.resources.cpu, { quota: 150000, period: 100000 });
  assert.equal(s.linux.resources.pids, { limit: 9 });
  assert.is(s.linux.cgroupsPath, '/kiln-x/id');
  assert.is(spec().linux.resources.memory, undefined);
});

test('--cap-add/--cap-drop adjust the default set; ALL works both ways; unknown names are errors', async () => {
  const d = DEFAULT_CAPABILITIES;
  assert.equal(adjustCapabilities(d, ['net_admin'], ['CHOWN']), [...d.filter((c) => c !== 'CAP_CHOWN'), 'CAP_NET_ADMIN']);
  assert.equal(adjustCapabilities(d, ['KILL'], ['ALL']), ['CAP_KILL']);
  assert.equal(adjustCapabilities(d, ['ALL'], []), ALL_CAPABILITIES);
  assert.is(spec({ readonlyRootfs: true }).root.readonly, true);
  const { throwsCode } = await import('../../helpers/assert.js');
  throwsCode(() => adjustCapabilities(d, ['fly'], []), 'INVALID_ARGUMENT', /unknown capability/);
});

test("--privileged: the host's capabilities (cap-add/drop ignored), no seccomp, nothing masked, /sys writable, every host device allowed", () => {
  const hostCapabilities = ['CAP_CHOWN', 'CAP_SYS_ADMIN', 'CAP_NET_ADMIN'];
  const devices = [{ path: '/dev/loop0', type: 'b' as const, major: 7, minor: 0, fileMode: 0o660, uid: 0, gid: 6 }];
  const s = spec({ privileged: { devices }, hostCapabilities, capDrop: ['ALL'], seccomp: 'default' });
  assert.equal(s.process.capabilities.bounding, hostCapabilities);
  assert.is(s.linux.seccomp, undefined);
  assert.equal(s.linux.maskedPaths, []);
  assert.equal(s.linux.readonlyPaths, []);
  assert.equal(s.linux.devices, devices);
  assert.equal(s.linux.resources.devices, [{ allow: true, access: 'rwm' }]);
  const sys = s.mounts.find((m: { destination: string }) => m.destination === '/sys');
  assert.not.ok(sys.options.includes('ro'));
  const plain = spec();
  assert.equal(plain.linux.resources.devices, [{ allow: false, access: 'rwm' }]);
  assert.is(plain.linux.devices, undefined);
});

test.run();
