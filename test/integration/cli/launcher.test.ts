/**
 * bin/kiln with the native launcher (native/launcher.c): it must pick the same daemon as the Node side
 * (src/cli/daemon/identity.ts) for every invocation, serve builds through it with the same output, exit codes
 * and Ctrl-C, and fall back to Node for everything else, including a daemon that refuses.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { daemonTargetFor, readBuildId } from '../../../src/cli/daemon/identity.js';
import { encodeFrame, FRAME } from '../../../src/cli/daemon/protocol.js';
import { listDaemons, stopDaemons } from '../../../src/cli/daemon/status.js';
import { kiln, REPO } from '../../helpers/kiln-cli.js';
import { startRegistry } from '../../helpers/registry.js';
import { waitFor } from '../../helpers/wait.js';

const KILN = join(REPO, 'bin/kiln');
const LAUNCHER = join(REPO, 'native/build/kiln-launcher');
let dir: string;
let root: string;

interface Run {
  code: number;
  stdout: Buffer;
  stderr: string;
}

function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, KILN_DAEMON_IDLE_SECONDS: '120', ...extra };
  for (const k of ['KILN_DAEMON', 'KILN_HOST', 'KILN_ROOT']) if (!(k in extra)) delete e[k];
  return e;
}

function start(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: Buffer } = {}) {
  const child = spawn(KILN, ['--root', root, ...args], { cwd: opts.cwd ?? dir, env: env(opts.env), stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d) => (stderr += d));
  child.stdin.end(opts.input);
  const done = new Promise<Run>((resolve) => child.on('close', (code) => resolve({ code: code ?? 128, stdout: Buffer.concat(out), stderr })));
  return { child, done, err: () => stderr };
}
const run = (args: string[], opts: Parameters<typeof start>[1] = {}) => start(args, opts).done;

const logs = () =>
  existsSync(join(root, 'daemon'))
    ? readdirSync(join(root, 'daemon'))
        .filter((n) => n.endsWith('.log'))
        .map((n) => readFileSync(join(root, 'daemon', n), 'utf8'))
        .join('\n')
    : '';
const served = () => logs().split('served a build').length - 1;
const liveSockets = () => (existsSync(join(root, 'daemon')) ? readdirSync(join(root, 'daemon')).filter((n) => /^[0-9a-f]{16}\.sock$/.test(n)) : []);

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-launcher-'));
  root = join(dir, 'root');
  assert.ok(existsSync(LAUNCHER), 'bash native/build.sh builds the launcher');
  assert.is((await kiln(['base', 'busybox'], { root })).code, 0);
});
test.after(async () => {
  await stopDaemons(root);
  await rm(dir, { recursive: true, force: true });
});

test('the launcher picks the daemon identity.ts picks, or skips for the same reason', async () => {
  const buildId = readBuildId(join(REPO, 'dist'))!;
  assert.ok(buildId, 'dist/build-id exists');
  const cwd = join(dir, 'cwd');
  await mkdir(cwd, { recursive: true });
  const base: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: '/root', KILN_RUNC: 'runc' };
  const cases: Array<[string[], NodeJS.ProcessEnv]> = [
    [['build', '.'], base],
    [['--root', 'state/../x/./y//', 'build', '-t', 'a', '.'], base],
    [['build', '--root=/abs/root/', '.'], base],
    [['build', '.'], { ...base, KILN_ROOT: '../rel-root' }],
    [['build', '.'], { ...base, KILN_DEBUG: '1', SOURCE_DATE_EPOCH: '5', GIT_SHA: 'x' }],
    [['build', '.'], { ...base, HTTPS_PROXY: 'http://127.0.0.1:3128', DOCKER_CONFIG: '/tmp/dc', LANG: 'C.UTF-8' }],
    [['build', '.'], { ...base, KILN_X: 'grüße ✓ "quoted" \\ back' }],
    [['--root', '/', 'build', '.'], base],
    [['images'], base],
    [['run', 'build'], base],
    [['build', '-'], base],
    [['build', '-f', '-', '.'], base],
    [['build', '--help'], base],
    [['build', '--no-daemon', '.'], base],
    [['-H', 'tcp://127.0.0.1:1', 'build', '.'], base],
    [['build', '.'], { ...base, KILN_HOST: 'unix:///x' }],
    [['build', '.'], { ...base, KILN_DAEMON: 'OFF' }],
    [['--root', `/${'r'.repeat(90)}`, 'build', '.'], base],
  ];
  for (const [args, e] of cases) {
    const out = execFileSync(LAUNCHER, args, { cwd, env: { ...e, KILN_LAUNCHER_DEBUG: '1' } }).toString();
    const want = daemonTargetFor(args, e, cwd, buildId);
    const expected = 'skip' in want ? `skip ${want.skip}\n` : `key ${want.key}\nroot ${want.root}\nsocket ${want.socket}\n`;
    assert.is(out, expected, JSON.stringify(args));
  }
});

test('bin/kiln serves a build through the daemon with the in-process result; failures keep their codes', async () => {
  const hello = join(REPO, 'fixtures/hello');
  const first = await run(['build', '-t', 'hello:l', hello]);
  assert.is(first.code, 0, first.stderr);
  await waitFor('the daemon', () => liveSockets().length === 1);
  const before = served();
  const again = await run(['build', '-t', 'hello:l', '--progress', 'plain', hello]);
  assert.is(again.code, 0, again.stderr);
  assert.is(again.stdout.toString(), first.stdout.toString());
  assert.is((again.stderr.match(/CACHED/g) ?? []).length, 3, again.stderr);
  const ctx = join(dir, 'bad');
  await mkdir(ctx, { recursive: true });
  await writeFile(join(ctx, 'Dockerfile'), 'FROM busybox\nRUN echo out-of-step; exit 4\n');
  const failed = await run(['build', '--progress', 'plain', ctx]);
  assert.is(failed.code, 1);
  assert.match(failed.stderr, /------\n > \[2\/2\] RUN echo out-of-step; exit 4:\nout-of-step\n------/);
  const tar = await run(['build', '-q', '-o', 'type=tar,dest=-', hello]);
  assert.is(tar.code, 0, tar.stderr);
  assert.ok(execFileSync('tar', ['-t'], { input: tar.stdout }).toString().split('\n').includes('app/built.txt'));
  assert.is(served(), before + 3, 'all three served by the daemon');
});

test('on a terminal a served build draws the tty progress exactly as an in-process one', async () => {
  // script(1) gives the build a pseudo-terminal; the launcher tells the daemon stderr is one (and its width).
  const hello = join(REPO, 'fixtures/hello');
  const onPty = (extra: string) =>
    execFileSync('script', ['-qec', `${extra} ${KILN} --root ${root} build -t hello:l ${hello}`, '/dev/null'], { env: env(), cwd: dir }).toString();
  const before = served();
  const viaDaemon = onPty('');
  assert.is(served(), before + 1);
  const inProcess = onPty('KILN_DAEMON=0');
  // The final frame is compared: how many frames come before it depends on the build's speed against the
  // renderer's tick, which a loaded machine changes between any two runs.
  const norm = (t: string) => {
    return t.slice(t.lastIndexOf('\x1b[2K[+] Building')).replace(/\d+\.\d+s/g, 'T');
  };
  assert.match(viaDaemon, /\x1b\[2K\[\+\] Building .* FINISHED/);
  assert.is(norm(viaDaemon), norm(inProcess));
  // A usage error's help wraps to the client's terminal width, not the daemon's 80 columns.
  const usage = (extra: string) =>
    execFileSync('script', ['-qec', `stty cols 132; ${extra} ${KILN} --root ${root} build --bogus ${hello}; true`, '/dev/null'], {
      env: env(),
      cwd: dir,
    }).toString();
  const servedUsage = usage('');
  assert.is(served(), before + 2);
  assert.match(servedUsage, /-f, --file <path> +the Dockerfile \(default: CONTEXT\/Dockerfile; - reads it from stdin\)/);
  assert.is(servedUsage, usage('KILN_DAEMON=0'));
});

test('bin/kiln forwards Ctrl-C: the served build is cancelled, exit 130, no container left', async () => {
  const ctx = join(dir, 'slow');
  await mkdir(ctx, { recursive: true });
  await writeFile(join(ctx, 'Dockerfile'), 'FROM busybox\nRUN echo running && sleep 60\n');
  const b = start(['build', '--progress', 'plain', ctx]);
  await waitFor('the RUN', () => /s running\n/.test(b.err()), 30_000);
  const runc = () =>
    execFileSync('runc', ['--root', join(root, 'runc'), 'list', '-q'])
      .toString()
      .trim();
  assert.is.not(runc(), '');
  b.child.kill('SIGINT');
  const r = await b.done;
  assert.is(r.code, 130, r.stderr);
  await waitFor('the container to go', () => runc() === '');
});

test('bin/kiln serves kiln push through the daemon, printing what an in-process push prints', async () => {
  const reg = await startRegistry();
  try {
    const hello = join(REPO, 'fixtures/hello');
    const ref = `${reg.host}/launcher/hello:1`;
    assert.is((await run(['build', '-t', ref, hello])).code, 0);
    await waitFor('the daemon', () => liveSockets().length === 1);
    const pushes = () => logs().split('served a push').length - 1;
    const before = pushes();
    const pushed = await run(['push', ref]);
    assert.is(pushed.code, 0, pushed.stderr);
    assert.is(pushes(), before + 1, 'the push went to the daemon');
    const inProcess = await run(['push', ref], { env: { KILN_DAEMON: '0' } });
    assert.is(inProcess.code, 0, inProcess.stderr);
    assert.is(pushes(), before + 1, 'KILN_DAEMON=0 pushed in-process');
    // The same lines either way (the second push finds every layer there already).
    const digest = (out: Buffer) => /digest: (sha256:[0-9a-f]{64})/.exec(out.toString())?.[1];
    assert.ok(digest(pushed.stdout), pushed.stdout.toString());
    assert.is(digest(inProcess.stdout), digest(pushed.stdout));
    assert.match(pushed.stdout.toString(), /^The push refers to repository \[127\.0\.0\.1:\d+\/launcher\/hello\]\n/);
    const missing = await run(['push', `${reg.host}/launcher/none:1`]);
    const missingHere = await run(['push', `${reg.host}/launcher/none:1`], { env: { KILN_DAEMON: '0' } });
    assert.ok(missing.code !== 0);
    assert.equal([missing.code, missing.stderr], [missingHere.code, missingHere.stderr], 'the same error and exit code');
    assert.match(missing.stderr, /error: .*none:1/);
    assert.not.match(missing.stderr, /\n\s+at /, 'no stack trace');
  } finally {
    await reg.stop();
  }
});

test('bin/kiln runs Node for stdin contexts and other commands', async () => {
  const ctxTar = execFileSync('tar', ['-c', '-C', join(REPO, 'fixtures/hello'), '.']);
  const before = served();
  const r = await run(['build', '-q', '-'], { input: ctxTar });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout.toString(), /^sha256:[0-9a-f]{64}\n$/);
  const images = await run(['images']);
  assert.match(images.stdout.toString(), /hello/);
  assert.is(served(), before, 'neither went to the daemon');
});

test('a current directory that no longer exists is a clear error, not a stack trace', async () => {
  const gone = join(dir, 'gone');
  await mkdir(gone);
  // The shell removes the directory it stands in, then runs kiln there.
  const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
    const child = spawn('sh', ['-c', `cd ${gone} && rmdir ${gone} && exec ${KILN} --root ${root} build .`], {
      env: env(),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? 1, stderr }));
  });
  assert.is(r.code, 2);
  assert.match(r.stderr, /error: the current directory no longer exists/);
  assert.not.match(r.stderr, /\n\s+at /);
});

test('a daemon that dies mid-build: the launcher says so (exit 70), and the next build works', async () => {
  const hello = join(REPO, 'fixtures/hello');
  assert.is((await run(['build', '-q', hello])).code, 0);
  await waitFor('a daemon', () => liveSockets().length >= 1);
  const ctx = join(dir, 'crash');
  await mkdir(ctx, { recursive: true });
  await writeFile(join(ctx, 'Dockerfile'), 'FROM busybox\nRUN echo crashing && sleep 60\n');
  const b = start(['build', '--progress', 'plain', ctx]);
  await waitFor('the RUN', () => /s crashing\n/.test(b.err()), 30_000);
  for (const d of await listDaemons(root)) if (d.alive) process.kill(d.pid, 'SIGKILL');
  const r = await b.done;
  assert.is(r.code, 70, r.stderr);
  assert.match(r.stderr, /the resident builder exited during the build/);
  assert.is((await run(['build', '-q', hello])).code, 0);
  // That build ran in-process and started a new daemon: let it come up before the next test stops them.
  await waitFor('the new daemon', async () => (await listDaemons(root)).some((d) => d.alive) && liveSockets().length === 1);
});

test('a daemon that refuses makes bin/kiln build in-process', async () => {
  await stopDaemons(root);
  const hello = join(REPO, 'fixtures/hello');
  const target = execFileSync(LAUNCHER, ['--root', root, 'build', hello], { env: { ...env(), KILN_LAUNCHER_DEBUG: '1' } }).toString();
  const socket = /socket (.*)\n/.exec(target)![1]!;
  let refused = 0;
  const fake = createServer((s) => {
    s.once('data', () => {
      refused++;
      s.end(encodeFrame(FRAME.exit, JSON.stringify({ refused: 'a test daemon' })));
    });
  });
  await rm(socket, { force: true });
  await new Promise<void>((r) => fake.listen(socket, () => r()));
  try {
    const r = await run(['build', '-q', hello], { env: { KILN_DAEMON_IDLE_SECONDS: '120' } });
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout.toString(), /^sha256:/);
    assert.is(refused, 2, 'the launcher and then the Node client asked, and both fell back');
  } finally {
    await new Promise((r) => fake.close(r));
  }
});

test.run();
