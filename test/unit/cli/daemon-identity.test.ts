import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { daemonDisabled, daemonEnv, daemonTargetFor, identityHash, readBuildId } from '../../../src/cli/daemon/identity.js';

const ENV = { PATH: '/usr/bin:/bin', HOME: '/root', KILN_ROOT: '/var/lib/kiln-test' };
const target = (args: string[], env: NodeJS.ProcessEnv = ENV, cwd = '/work', build = 'b1') => daemonTargetFor(args, env, cwd, build);
const keyOf = (t: ReturnType<typeof daemonTargetFor>) => {
  if ('skip' in t) throw new Error(`skipped: ${t.skip}`);
  return t.key;
};

test('daemonTargetFor() serves `build` on the root from --root, KILN_ROOT or the default', () => {
  const t = target(['--root', 'state', 'build', '-t', 'app', '.']);
  assert.not.ok('skip' in t);
  if ('skip' in t) return;
  assert.is(t.root, '/work/state');
  assert.is(t.socket, `/work/state/daemon/${t.key}.sock`);
  const byEnv = target(['build', '.']);
  assert.is('skip' in byEnv ? '' : byEnv.root, '/var/lib/kiln-test');
  const after = target(['build', '--root=/r', '.']);
  assert.is('skip' in after ? '' : after.root, '/r');
});

test('daemonTargetFor() leaves other commands, remote hosts, stdin, help and --no-daemon to the CLI', () => {
  const skipped = (args: string[], env: NodeJS.ProcessEnv = ENV) => {
    const t = target(args, env);
    return 'skip' in t ? t.skip : undefined;
  };
  assert.is(skipped(['images']), 'not a build or push');
  assert.is(skipped(['run', 'build']), 'not a build or push'); // `build` as an image name, not the command
  assert.is(skipped(['pull', 'push']), 'not a build or push');
  assert.is(skipped(['--host', 'tcp://127.0.0.1:1', 'build', '.']), 'a remote host');
  assert.is(skipped(['build', '-H', 'unix:///x', '.']), 'a remote host');
  assert.is(skipped(['build', '.'], { ...ENV, KILN_HOST: 'tcp://127.0.0.1:1' }), 'a remote host');
  assert.is(skipped(['build', '-']), 'stdin');
  assert.is(skipped(['build', '-f', '-', '.']), 'stdin');
  assert.is(skipped(['build', '--file=-', '.']), 'stdin');
  assert.is(skipped(['build', '--help']), 'help');
  assert.is(skipped(['build', '--no-daemon', '.']), '--no-daemon');
  assert.is(skipped(['build', '.'], { ...ENV, KILN_DAEMON: '0' }), 'KILN_DAEMON disables it');
  assert.is(skipped(['--root', `/${'x'.repeat(120)}`, 'build', '.']), 'the root path is too long for a unix socket');
  assert.is(skipped(['build', '--build-arg', 'X=-', '.']), undefined);
});

test('daemonDisabled() reads KILN_DAEMON', () => {
  for (const v of ['0', 'false', 'NO', 'off']) assert.ok(daemonDisabled({ KILN_DAEMON: v }), v);
  for (const v of [undefined, '', '1', 'yes']) assert.not.ok(daemonDisabled({ KILN_DAEMON: v }), String(v));
});

test('the daemon key changes with the kiln build, the root and the daemon-relevant environment only', () => {
  const base = keyOf(target(['build', '.']));
  assert.match(base, /^[0-9a-f]{16}$/);
  assert.is(keyOf(target(['build', '-t', 'other', 'ctx'], ENV, '/elsewhere')), base, 'arguments and cwd are per request');
  assert.is.not(keyOf(target(['build', '.'], ENV, '/work', 'b2')), base, 'another kiln build');
  assert.is.not(keyOf(target(['--root', '/other', 'build', '.'])), base, 'another root');
  for (const [k, v] of [
    ['PATH', '/opt/bin'],
    ['DOCKER_CONFIG', '/tmp/d'],
    ['HTTPS_PROXY', 'http://127.0.0.1:3128'],
    ['KILN_RUNC', '/opt/runc'],
  ]) {
    assert.is.not(keyOf(target(['build', '.'], { ...ENV, [k!]: v })), base, k);
  }
  // Per-invocation values travel with the request; a CI's per-job variables must not start a daemon each.
  for (const [k, v] of [
    ['SOURCE_DATE_EPOCH', '1'],
    ['SSH_AUTH_SOCK', '/tmp/a'],
    ['TERM', 'dumb'],
    ['GIT_SHA', 'abc'],
    ['KILN_DEBUG', '1'],
    ['KILN_DAEMON', '1'],
  ]) {
    assert.is(keyOf(target(['build', '.'], { ...ENV, [k!]: v })), base, k);
  }
});

test('daemonEnv() lists the relevant variables sorted', () => {
  assert.equal(daemonEnv({ ZZ: '1', PATH: '/b', KILN_RUNC: 'r', HOME: '/h', KILN_HOST: 'x' }), ['HOME=/h', 'KILN_RUNC=r', 'PATH=/b']);
});

test('identityHash() is stable and tells near strings apart', () => {
  assert.is(identityHash('abc'), identityHash('abc'));
  const seen = new Set<string>();
  for (let i = 0; i < 5000; i++) seen.add(identityHash(`root\0PATH=/usr/bin:${i}`));
  assert.is(seen.size, 5000);
});

test('readBuildId() changes with the stamp and with every compile (dist/cli/main.js rewritten)', () => {
  const dist = mkdtempSync(join(tmpdir(), 'kiln-dist-'));
  try {
    assert.is(readBuildId(dist), undefined, 'not built');
    mkdirSync(join(dist, 'cli'));
    writeFileSync(join(dist, 'build-id'), 'stamp-1\n');
    writeFileSync(join(dist, 'cli', 'main.js'), '');
    utimesSync(join(dist, 'cli', 'main.js'), 1000, 1000);
    const a = readBuildId(dist);
    assert.match(a ?? '', /^stamp-1@\d+$/);
    utimesSync(join(dist, 'cli', 'main.js'), 2000, 2000);
    assert.is.not(readBuildId(dist), a, 'a bare tsc run (main.js rewritten) is another build');
    writeFileSync(join(dist, 'build-id'), 'stamp-2\n');
    assert.match(readBuildId(dist) ?? '', /^stamp-2@/);
  } finally {
    rmSync(dist, { recursive: true, force: true });
  }
});

test.run();
