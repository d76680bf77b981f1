/** createExecutor().run() against real runc on an overlay of a busybox tree: the runtime spec Docker users expect. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createExecutor } from '../../../src/sandbox/executor.js';
import { cleanupStale } from '../../../src/sandbox/cleanup.js';
import { mountsUnder } from '../../../src/sandbox/mount.js';
import { listCgroups } from '../../../src/sandbox/cgroup.js';
import type { RunOptions } from '../../../src/sandbox/types.js';
import { rejects } from '../../helpers/assert.js';
import { createFixture, type Fixture } from './fixture.js';

let f: Fixture;
test.before(async () => {
  f = await createFixture();
});
test.after(async () => {
  await cleanupStale(f.root);
  await f.dispose();
});

function sink() {
  let text = '';
  const stream = new Writable({
    write(c, _e, cb) {
      text += c;
      cb();
    },
  });
  return {
    stream,
    get text() {
      return text;
    },
  };
}

/** Runs `sh -c script` on a fresh overlay; returns exit code and output. */
async function sh(script: string, o: Partial<RunOptions> = {}, proc: Partial<RunOptions['process']> = {}) {
  const { mounts, upper } = await f.rootfsMounts();
  const out = sink();
  const err = sink();
  const r = await createExecutor({ root: f.root }).run({
    rootfs: mounts,
    process: { args: ['sh', '-c', script], env: [], ...proc },
    stdout: out.stream,
    stderr: err.stream,
    network: 'none',
    ...o,
  });
  return { ...r, out: out.text, err: err.text, upper };
}

async function leftovers() {
  const containers = await readdir(join(f.root, 'containers')).catch(() => [] as string[]);
  const mounts = await mountsUnder(f.root);
  return { containers, mounts, cgroups: await listCgroups(f.root) };
}

test('run() passes the exit code back and streams stdout and stderr apart', async () => {
  const r = await sh('echo out; echo err >&2; exit 7');
  assert.is(r.exitCode, 7);
  assert.is(r.out, 'out\n');
  assert.is(r.err, 'err\n');
});

test('run() leaves no bundle, mount or cgroup behind', async () => {
  await sh('true');
  assert.equal(await leftovers(), { containers: [], mounts: [], cgroups: [] });
});

test("a missing executable is COMMAND_NOT_FOUND with exit code 127 and Docker's message", async () => {
  const { mounts } = await f.rootfsMounts();
  const err = await rejects(
    () => createExecutor({ root: f.root }).run({ rootfs: mounts, process: { args: ['nosuch'], env: [] } }),
    'COMMAND_NOT_FOUND',
    /exec: "nosuch": executable file not found in \$PATH/,
  );
  assert.is((err as any).exitCode, 127);
  assert.equal(await leftovers(), { containers: [], mounts: [], cgroups: [] });
});

test("PATH gets Docker's default when the environment has none; given variables pass through", async () => {
  const r = await sh('echo "$PATH|$FOO|$HOME"', {}, { env: ['FOO=bar baz'] });
  assert.is(r.out, '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|bar baz|/root\n');
});

test('a missing working directory is created', async () => {
  const r = await sh('pwd', {}, { cwd: '/work/deep/dir' });
  assert.is(r.out, '/work/deep/dir\n');
  assert.ok((await stat(join(r.upper, 'work/deep/dir'))).isDirectory());
});

// The kernel sorts supplementary groups (setgroups), so `id` lists them in numeric order.
for (const [user, expected] of [
  ['', 'uid=0(root) gid=0(root) groups=0(root)'],
  ['alice', 'uid=1000(alice) gid=1000(alice) groups=10(wheel),50(staff),1000(alice)'],
  ['1001', 'uid=1001(bob) gid=1001(bob) groups=50(staff),1001(bob)'],
  ['1000:50', 'uid=1000(alice) gid=50(staff) groups=50(staff)'],
  ['bob:wheel', 'uid=1001(bob) gid=10(wheel) groups=10(wheel)'],
  ['4242', 'uid=4242 gid=0(root) groups=0(root)'],
  ['4242:4343', 'uid=4242 gid=4343 groups=4343'],
] as const) {
  test(`user "${user}" resolves from the image's /etc/passwd and /etc/group to ${expected}`, async () => {
    const r = await sh('id', {}, { user });
    assert.is(r.out.trim(), expected);
  });
}

test('an unknown user or group is USER_NOT_FOUND and nothing is left behind', async () => {
  const { mounts } = await f.rootfsMounts();
  const ex = createExecutor({ root: f.root });
  await rejects(() => ex.run({ rootfs: mounts, process: { args: ['true'], env: [], user: 'mallory' } }), 'USER_NOT_FOUND', /mallory/);
  await rejects(() => ex.run({ rootfs: mounts, process: { args: ['true'], env: [], user: 'alice:nogroup2' } }), 'USER_NOT_FOUND', /nogroup2/);
  assert.equal(await leftovers(), { containers: [], mounts: [], cgroups: [] });
});

test('the process runs in its own pid, mount, ipc, uts and network namespaces as pid 1', async () => {
  const kinds = ['pid', 'mnt', 'ipc', 'uts', 'net'];
  const r = await sh(`echo $$; for n in ${kinds.join(' ')}; do readlink /proc/self/ns/$n; done`, { hostname: 'box1' });
  const lines = r.out.trim().split('\n');
  assert.is(lines[0], '1');
  for (const [i, k] of kinds.entries()) assert.is.not(lines[i + 1], await readlink(`/proc/self/ns/${k}`), `${k} namespace is the host's`);
  const h = await sh('hostname; cat /etc/hostname', { hostname: 'box1' });
  assert.is(h.out, 'box1\nbox1\n');
});

test('network none has only a loopback interface that is up', async () => {
  const r = await sh('ls /sys/class/net; ip -o link show lo');
  assert.is(r.out.split('\n')[0], 'lo');
  assert.match(r.out, /UP/);
});

test("network host shares the host's network namespace", async () => {
  const r = await sh('readlink /proc/self/ns/net', { network: 'host' });
  assert.is(r.out.trim(), await readlink('/proc/self/ns/net'));
});

test("root gets Docker's default capability set, a non-root user none, and no_new_privs is set", async () => {
  const root = await sh('grep -E "^(CapEff|CapBnd|CapInh|CapAmb|NoNewPrivs)" /proc/self/status');
  assert.match(root.out, /CapEff:\s+00000000a80425fb/);
  assert.match(root.out, /CapBnd:\s+00000000a80425fb/);
  assert.match(root.out, /CapInh:\s+0000000000000000/);
  assert.match(root.out, /CapAmb:\s+0000000000000000/);
  assert.match(root.out, /NoNewPrivs:\s+1/);
  const alice = await sh('grep CapEff /proc/self/status', {}, { user: 'alice' });
  assert.match(alice.out, /CapEff:\s+0000000000000000/);
});

test('proc, sysfs (read-only), /dev with standard nodes, devpts, shm and mqueue are mounted; /proc/sys is read-only', async () => {
  const r = await sh(
    [
      'grep -E " /(proc|sys|dev|dev/pts|dev/shm|dev/mqueue) " /proc/self/mounts | cut -d" " -f2,3,4 | cut -d, -f1',
      'for d in null zero full random urandom tty; do test -c /dev/$d && echo dev:$d; done',
      'echo x > /proc/sys/kernel/hostname 2>/dev/null && echo procsys-rw || echo procsys-ro',
      'touch /sys/x 2>/dev/null && echo sysfs-rw || echo sysfs-ro',
    ].join('; '),
  );
  for (const m of ['/proc proc rw', '/sys sysfs ro', '/dev tmpfs rw', '/dev/pts devpts rw', '/dev/shm tmpfs rw', '/dev/mqueue mqueue rw'])
    assert.ok(r.out.includes(m), `${m} in ${r.out}`);
  for (const d of ['null', 'zero', 'full', 'random', 'urandom', 'tty']) assert.ok(r.out.includes(`dev:${d}`), d);
  assert.ok(r.out.includes('procsys-ro'));
  assert.ok(r.out.includes('sysfs-ro'));
});

test("Docker's masked paths read as empty inside the container", async () => {
  const { MASKED_PATHS } = await import('../../../src/sandbox/spec.js');
  const present: string[] = [];
  for (const p of MASKED_PATHS)
    if (
      await stat(p).then(
        () => true,
        () => false,
      )
    )
      present.push(p);
  assert.ok(present.length > 0, 'the host has some masked paths to check');
  const r = await sh(
    present.map((p) => `if [ -d ${p} ]; then echo "${p} $(ls -A ${p} | wc -l)"; else echo "${p} $(head -c 100 ${p} 2>/dev/null | wc -c)"; fi`).join('; '),
  );
  for (const p of present) assert.match(r.out, new RegExp(`^${p} +0$`, 'm'), `${p} is masked`);
});

test('/etc/hosts, /etc/hostname and /etc/resolv.conf are provided, and the mount stubs do not end up in the upper dir', async () => {
  const r = await sh('grep localhost /etc/hosts | head -1; test -f /etc/resolv.conf && echo resolv', { hostname: 'stubs' });
  assert.match(r.out, /127\.0\.0\.1\s+localhost/);
  assert.match(r.out, /resolv/);
  const upperEtc = await readdir(join(r.upper, 'etc')).catch(() => [] as string[]);
  assert.equal(upperEtc, []);
  assert.equal(
    (await readdir(r.upper)).filter((n) => ['proc', 'sys', 'dev'].includes(n)),
    [],
  );
});

test("memory, cpu and pids limits land in the container's cgroups", async () => {
  const r = await sh('cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/pids/pids.max', {
    limits: { memoryBytes: 64 * 1024 * 1024, cpus: 0.5, pids: 20 },
  });
  assert.is(r.out, `${64 * 1024 * 1024}\n50000\n20\n`);
});

test('the memory limit is enforced: a process allocating past it is killed', async () => {
  const r = await sh('dd if=/dev/zero of=/dev/null bs=100M count=1 2>/dev/null; echo "dd=$?"', { limits: { memoryBytes: 32 * 1024 * 1024 } });
  assert.is(r.out, 'dd=137\n');
  const free = await sh('dd if=/dev/zero of=/dev/null bs=100M count=1 2>/dev/null; echo "dd=$?"');
  assert.is(free.out, 'dd=0\n');
});

test('the pids limit is enforced: forking past it fails', async () => {
  // Not too tight: the limit also counts runc init's threads before the exec (a Go runtime that may start several
  // under load); 4 made runc itself fail now and then ("container process is already dead").
  const r = await sh('i=0; while [ $i -lt 24 ]; do sleep 1 & i=$((i+1)); done; wait; echo done', { limits: { pids: 12 } });
  assert.match(r.err, /can't fork|Resource temporarily unavailable|fork/i);
  const free = await sh('for i in 1 2 3 4 5 6 7 8; do sleep 0.2 & done; wait; echo done');
  assert.is(free.err, '');
});

test("RLIMIT_NOFILE stays within the host's hard limit", async () => {
  const r = await sh('ulimit -Hn');
  const hostHard = /Max open files\s+\d+\s+(\d+)/.exec(await readFile('/proc/self/limits', 'utf8'))![1]!;
  assert.ok(Number(r.out.trim()) <= Number(hostHard));
});

test('a signal sent through the handle reaches the process, and its exit code comes back', async () => {
  const { mounts } = await f.rootfsMounts();
  const out = sink();
  const r = await createExecutor({ root: f.root }).run({
    rootfs: mounts,
    network: 'none',
    stdout: out.stream,
    process: { args: ['sh', '-c', 'trap "echo got-term; exit 42" TERM; echo ready; while true; do sleep 0.1; done'], env: [] },
    onStart: (c) => {
      const wait = setInterval(() => {
        if (out.text.includes('ready')) {
          clearInterval(wait);
          c.kill('SIGTERM').catch(() => {});
        }
      }, 20);
    },
  });
  assert.is(r.exitCode, 42);
  assert.match(out.text, /got-term/);
});

test('cancelling with an AbortSignal kills the container and removes bundle, mounts and cgroups', async () => {
  const { mounts } = await f.rootfsMounts();
  const ac = new AbortController();
  const p = createExecutor({ root: f.root }).run({
    rootfs: mounts,
    network: 'none',
    process: { args: ['sleep', '60'], env: [] },
    signal: ac.signal,
    limits: { pids: 10 },
  });
  await new Promise((r) => setTimeout(r, 300));
  const t0 = Date.now();
  ac.abort();
  await rejects(() => p, 'CANCELLED');
  assert.ok(Date.now() - t0 < 5000);
  assert.equal(await leftovers(), { containers: [], mounts: [], cgroups: [] });
});

test('stdin is passed to the process', async () => {
  const { mounts } = await f.rootfsMounts();
  const { Readable } = await import('node:stream');
  const out = sink();
  await createExecutor({ root: f.root }).run({
    rootfs: mounts,
    network: 'none',
    process: { args: ['tr', 'a-z', 'A-Z'], env: [] },
    stdin: Readable.from(['hello\n']),
    stdout: out.stream,
  });
  assert.is(out.text, 'HELLO\n');
});

test('the container sees no file descriptor of kiln beyond stdio', async () => {
  // Open a few descriptors in this process first: none may reach the container.
  const { open } = await import('node:fs/promises');
  const held = await Promise.all([open('/etc/hostname'), open('/proc/self/status')]);
  try {
    const r = await sh('ls /proc/self/fd | sort -n | tr "\\n" " "');
    // 3 is the directory ls itself reads.
    assert.is(r.out.trim(), '0 1 2 3');
  } finally {
    await Promise.all(held.map((h) => h.close()));
  }
});

test('CVE-2024-21626: a working directory under /proc/self/fd never reaches the host', async () => {
  const marker = `kiln-cve-${process.pid}-${Date.now()}`;
  await writeFile(`/tmp/${marker}`, 'host secret');
  try {
    for (let fd = 3; fd <= 12; fd++) {
      const { mounts } = await f.rootfsMounts();
      let out = '';
      try {
        const r = await sh(
          `cat ../../../../../../tmp/${marker} 2>/dev/null; cat /proc/self/cwd/../../../../tmp/${marker} 2>/dev/null; true`,
          { rootfs: mounts },
          { cwd: `/proc/self/fd/${fd}` },
        );
        out = r.out;
      } catch {
        // runc refusing to start is the fixed behaviour.
      }
      assert.not.match(out, /host secret/, `cwd /proc/self/fd/${fd} escaped to the host`);
    }
  } finally {
    const { rm } = await import('node:fs/promises');
    await rm(`/tmp/${marker}`, { force: true });
  }
});

test('bridge network: the container gets an address on kiln0 and reaches the gateway', async () => {
  const r = await sh('ip -o -4 addr show eth0; ping -c1 -W2 10.89.0.1 >/dev/null && echo gw-ok', { network: 'bridge' });
  assert.match(r.out, /inet 10\.89\.\d+\.\d+\/16/);
  assert.match(r.out, /gw-ok/);
  const { execFileSync } = await import('node:child_process');
  execFileSync('iptables', ['-w', '-t', 'nat', '-C', 'POSTROUTING', '-s', '10.89.0.0/16', '!', '-o', 'kiln0', '-j', 'MASQUERADE'], { stdio: 'ignore' });
  const leases = await readdir('/run/kiln/leases').catch(() => [] as string[]);
  for (const l of leases) assert.not.match(await readFile(join('/run/kiln/leases', l), 'utf8'), new RegExp(f.root));
});

test.run();
