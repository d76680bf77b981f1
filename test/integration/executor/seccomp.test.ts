/**
 * Docker's default seccomp profile under real runc: syscalls outside the allowlist fail with EPERM, the
 * capability-gated groups open with `--cap-add`, ordinary programs are unaffected, and `unconfined` / a
 * Docker-format profile replace it — through the executor and through `kiln run --security-opt`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createExecutor } from '../../../src/sandbox/executor.js';
import { cleanupStale } from '../../../src/sandbox/cleanup.js';
import type { RunOptions } from '../../../src/sandbox/types.js';
import { hostCompatAbis } from '../../../src/sandbox/compat-abis.js';
import { skipIf } from '../../helpers/skip.js';
import { kiln } from '../../helpers/kiln-cli.js';
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

async function sh(script: string, o: Partial<RunOptions> = {}) {
  const { mounts } = await f.rootfsMounts();
  const out = sink();
  const err = sink();
  const r = await createExecutor({ root: f.root }).run({
    rootfs: mounts,
    process: { args: ['sh', '-c', script], env: [] },
    stdout: out.stream,
    stderr: err.stream,
    network: 'none',
    ...o,
  });
  return { ...r, out: out.text, err: err.text };
}

const seccompMode = async (o: Partial<RunOptions> = {}) => /^Seccomp:\s*(\d)/m.exec((await sh('cat /proc/self/status', o)).out)?.[1];

test('a container runs under a seccomp filter by default (Seccomp: 2), and none when unconfined', async () => {
  assert.is(await seccompMode(), '2');
  assert.is(await seccompMode({ seccomp: 'unconfined' }), '0');
});

test('a syscall outside the allowlist fails with EPERM: unshare(CLONE_NEWUSER) needs no capability, only the filter stops it', async () => {
  const filtered = await sh('unshare -U true');
  assert.is(filtered.exitCode, 1);
  assert.match(filtered.err, /Operation not permitted/);
  assert.is((await sh('unshare -U true', { seccomp: 'unconfined' })).exitCode, 0, 'the kernel itself allows it');
});

test('CAP_SYS_ADMIN opens the mount group, while swapon stays blocked by the filter even with the capability', async () => {
  const withCap = await sh('mkdir /m && mount -t tmpfs none /m && echo mounted; swapon /etc/passwd', { capAdd: ['SYS_ADMIN'] });
  assert.match(withCap.out, /mounted/);
  assert.match(withCap.err, /swapon: \/etc\/passwd: Operation not permitted/);
  const without = await sh('mkdir /m && mount -t tmpfs none /m && echo mounted');
  assert.not.match(without.out, /mounted/);
  // The same swapon unfiltered reaches the kernel, which finds no swap signature in the file instead.
  const unconfined = await sh('swapon /etc/passwd', { capAdd: ['SYS_ADMIN'], seccomp: 'unconfined' });
  assert.match(unconfined.err, /Invalid argument/);
});

test('--cap-add ALL grants every capability the host has (not more: runc would refuse), and the filter stays', async () => {
  const host = /^CapBnd:\s*(\w+)$/m.exec(await readFile('/proc/self/status', 'utf8'))![1];
  const r = await sh('grep -E "^(CapEff|Seccomp):" /proc/self/status', { capAdd: ['ALL'] });
  assert.is(r.exitCode, 0, r.err);
  assert.match(r.out, new RegExp(`CapEff:\\s*${host}`));
  assert.match(r.out, /Seccomp:\s*2/);
});

test('ordinary work is unaffected: files, pipes, processes, a loopback HTTP server and client', async () => {
  const r = await sh(
    [
      'mkdir -p /www/d && echo hi > /www/d/f && cp -a /www/d /www/e && ls /www/e | grep -q f',
      'linux32 true',
      'httpd -p 127.0.0.1:8080 -h /www',
      'for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://127.0.0.1:8080/e/f 2>/dev/null && break; sleep 0.1; done',
    ].join(' && '),
  );
  assert.is(r.exitCode, 0, r.err);
  assert.is(r.out, 'hi\n');
});

test('a Docker-format profile replaces the default: its errno for the listed syscalls, its default action for the rest', async () => {
  const profile = { defaultAction: 'SCMP_ACT_ALLOW' as const, syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' as const, errnoRet: 13 }] };
  const r = await sh('mkdir /x; unshare -U true && echo unshared', { seccomp: { profile } });
  assert.match(r.err, /mkdir: can't create directory '\/x': Permission denied/);
  assert.match(r.out, /unshared/);
});

const onX64 = skipIf(process.arch !== 'x64', 'x86_64 only: the 32-bit x86 and x32 ABIs exist only there');

onX64('the 32-bit ABIs behave in a container as the kernel runs them: filtered where it does, refused where not', async () => {
  const abis = hostCompatAbis();
  const dir = await mkdtemp(join(f.root, 'abi-'));
  const src = join(dir, 'abi.c');
  // `abi ia32`: getpid and unshare through int 0x80 (calls 20 and 310); `abi x32`: getpid through the x32 ABI.
  await writeFile(
    src,
    [
      '#include <stdio.h>',
      '#include <string.h>',
      '#include <unistd.h>',
      'static long ia32(long nr, long a) { long r; __asm__ volatile ("int $0x80" : "=a"(r) : "a"(nr), "b"(a) : "memory"); return r; }',
      'int main(int argc, char **argv) {',
      '  if (argc > 1 && !strcmp(argv[1], "ia32")) {',
      '    printf("getpid %ld\\n", ia32(20, 0)); fflush(stdout);',
      '    printf("unshare %ld\\n", ia32(310, 0x10000000));',
      '  } else {',
      '    long r = syscall(0x40000000L | 39);',
      '    printf("getpid %ld\\n", r);',
      '  }',
      '  return 0;',
      '}',
    ].join('\n'),
  );
  execFileSync('cc', ['-static', '-O2', '-o', join(dir, 'abi'), src]);
  const run = (abi: string) => sh(`/abi/abi ${abi}; echo "exit $?"`, { mounts: [{ type: 'bind', source: dir, target: '/abi', options: ['rbind', 'ro'] }] });
  const ia32 = await run('ia32');
  if (abis.ia32) {
    assert.match(ia32.out, /^getpid \d+$/m, `an allowed 32-bit call runs: ${ia32.out}`);
    assert.match(ia32.out, /^unshare -1$/m, 'a refused 32-bit call gets EPERM (-1) from the filter');
  } else {
    assert.match(ia32.out, /^exit 139\n$/, `no IA32 emulation: int 0x80 raises SIGSEGV, as on the host (${ia32.out})`);
  }
  const x32 = await run('x32');
  if (abis.x32) assert.match(x32.out, /^getpid \d+\nexit 0\n$/, `the kernel runs x32 and the filter keeps it: ${x32.out}`);
  else assert.match(x32.out, /^exit 159\n$/, `no x32 on the kernel, none in the filter: the call is killed (SIGSYS, 128 + 31): ${x32.out}`);
});

test('kiln run --security-opt: seccomp=unconfined lifts the filter, seccomp=FILE loads a profile, unknown options are refused', async () => {
  const root = join(f.dir, 'cli-root');
  assert.is((await kiln(['base', 'busybox'], { root })).code, 0);
  const run = (args: string[]) => kiln(['run', '--rm', '--network', 'none', ...args], { root });
  assert.match((await run(['busybox', 'grep', 'Seccomp:', '/proc/self/status'])).stdout, /Seccomp:\s*2/);
  const un = await run(['--security-opt', 'seccomp=unconfined', 'busybox', 'sh', '-c', 'grep Seccomp: /proc/self/status && unshare -U true']);
  assert.is(un.code, 0, un.stderr);
  assert.match(un.stdout, /Seccomp:\s*0/);
  const file = join(f.dir, 'deny-mkdir.json');
  await writeFile(
    file,
    JSON.stringify({
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [
        { name: 'mkdir', action: 'SCMP_ACT_ERRNO' },
        { name: 'mkdirat', action: 'SCMP_ACT_ERRNO' },
      ],
    }),
  );
  const custom = await run(['--security-opt', `seccomp=${file}`, 'busybox', 'mkdir', '/x']);
  assert.is(custom.code, 1);
  assert.match(custom.stderr, /Operation not permitted/);
  const bad = await run(['--security-opt', 'apparmor=foo', 'busybox', 'true']);
  assert.is(bad.code === 0, false);
  assert.match(bad.stderr, /invalid --security-opt/);
  const missing = await run(['--security-opt', `seccomp=${join(f.dir, 'nope.json')}`, 'busybox', 'true']);
  assert.match(missing.stderr, /seccomp profile/);
  // A detached container keeps its setting in its record, and `kiln exec` runs under the container's filter.
  for (const [opts, mode] of [
    [['--security-opt', 'seccomp=unconfined'], '0'],
    [[], '2'],
  ] as const) {
    const d = await kiln(['run', '-d', '--network', 'none', ...opts, 'busybox', 'sleep', '60'], { root });
    assert.is(d.code, 0, d.stderr);
    const id = d.stdout.trim();
    const e = await kiln(['exec', id, 'grep', 'Seccomp:', '/proc/self/status'], { root });
    assert.match(e.stdout, new RegExp(`Seccomp:\\s*${mode}`));
    assert.is((await kiln(['rm', '-f', id], { root })).code, 0);
  }
  await cleanupStale(root);
});

test.run();
