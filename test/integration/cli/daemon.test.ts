/**
 * The resident builder (src/cli/daemon) through the real entry, bin/kiln.js on dist/: the first build starts it,
 * later builds are served by it with an in-process build's output, exit codes, paths and environment, Ctrl-C
 * and a killed client cancel what it runs, and it keeps to its own environment and exits when idle.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listDaemons, stopDaemons } from '../../../src/cli/daemon/status.js';
import { daemonTargetFor, readBuildId } from '../../../src/cli/daemon/identity.js';
import { kiln, REPO } from '../../helpers/kiln-cli.js';
import { waitFor } from '../../helpers/wait.js';

const BIN = join(REPO, 'bin/kiln.js');
let dir: string;
let root: string;
const roots: string[] = [];

interface Run {
  code: number;
  stdout: Buffer;
  stderr: string;
}

const baseEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, KILN_DAEMON_IDLE_SECONDS: '120' };
  delete env.KILN_DAEMON;
  delete env.KILN_HOST;
  return env;
};

function start(args: string[], opts: { root?: string; cwd?: string; env?: NodeJS.ProcessEnv } = {}): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(process.execPath, [BIN, '--root', opts.root ?? root, ...args], {
    cwd: opts.cwd ?? dir,
    env: { ...baseEnv(), ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<Run>((resolve) =>
    child.on('close', (code, sig) => resolve({ code: code ?? (sig === 'SIGKILL' ? 137 : 128), stdout: Buffer.concat(out), stderr })),
  );
  return { child, done };
}
const bin = (args: string[], opts: Parameters<typeof start>[1] = {}) => start(args, opts).done;

const sockets = (r = root) =>
  existsSync(join(r, 'daemon')) ? readdirSync(join(r, 'daemon')).filter((n) => n.endsWith('.sock') && !/\.\d+\.sock$/.test(n)) : [];
const logs = (r = root) =>
  existsSync(join(r, 'daemon'))
    ? readdirSync(join(r, 'daemon'))
        .filter((n) => n.endsWith('.log'))
        .map((n) => readFileSync(join(r, 'daemon', n), 'utf8'))
        .join('\n')
    : '';
/** Builds the root's daemons served (each logs one line per build, before its exit reaches the client). */
const servedCount = (r = root) => logs(r).split('served a build').length - 1;
const cancelledCount = (r = root) => logs(r).split('cancelled by its client').length - 1;
const containers = (r = root) =>
  execFileSync('runc', ['--root', join(r, 'runc'), 'list', '-q'])
    .toString()
    .trim();

async function context(name: string, files: Record<string, string>): Promise<string> {
  const ctx = join(dir, name);
  await mkdir(ctx, { recursive: true });
  for (const [p, c] of Object.entries(files)) await writeFile(join(ctx, p), c);
  return ctx;
}

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-daemon-'));
  root = join(dir, 'root');
  roots.push(root);
  const r = await kiln(['base', 'busybox'], { root });
  assert.is(r.code, 0, r.stderr);
});
test.after(async () => {
  for (const r of roots) await stopDaemons(r);
  await rm(dir, { recursive: true, force: true });
});

test("the first build starts the root's daemon; the next is served by it with the same result", async () => {
  const hello = join(REPO, 'fixtures/hello');
  const first = await bin(['build', '-t', 'hello:d', hello]);
  assert.is(first.code, 0, first.stderr);
  await waitFor('the daemon socket', () => sockets().length === 1);
  const again = await bin(['build', '-t', 'hello:d', '--progress', 'plain', hello]);
  assert.is(again.code, 0, again.stderr);
  assert.is(again.stdout.toString().trim(), first.stdout.toString().trim());
  assert.is((again.stderr.match(/CACHED/g) ?? []).length, 3, again.stderr);
  assert.is(servedCount(), 1, "the second build was the daemon's");
  const [d] = await listDaemons(root);
  assert.ok(d?.alive);
});

test("served builds fail as in-process ones do: exit codes, error lines, the failed step's output", async () => {
  const before = servedCount();
  const parse = await bin(['build', await context('bad-parse', { Dockerfile: 'FROM busybox\nRUNN x\n' })]);
  assert.is(parse.code, 2);
  assert.match(parse.stderr, /error: Dockerfile:2: unknown instruction "RUNN"/);
  const run = await bin(['build', '--progress', 'plain', await context('bad-run', { Dockerfile: 'FROM busybox\nRUN echo from-the-step; exit 3\n' })]);
  assert.is(run.code, 1);
  assert.match(run.stderr, /------\n > \[2\/2\] RUN echo from-the-step; exit 3:\nfrom-the-step\n------/);
  assert.match(run.stderr, /exit code: 3/);
  const missing = await bin(['build', join(dir, 'no-such-context')]);
  assert.is(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /no-such-context is missing/);
  assert.is(servedCount(), before + 3);
});

test("relative paths resolve against the client's cwd; build args and env secrets come from the client's environment", async () => {
  const ctx = await context('env-ctx', {
    'Dockerfile.alt': 'FROM busybox\nARG GREETING\nRUN echo "$GREETING" > /greet.txt\nRUN --mount=type=secret,id=tok cat /run/secrets/tok > /tok.txt\n',
  });
  const before = servedCount();
  for (const value of ['first', 'second']) {
    const r = await bin(
      [
        'build',
        '-f',
        'Dockerfile.alt',
        '--build-arg',
        'GREETING',
        '--secret',
        'id=tok,env=TOKEN',
        '--iidfile',
        'out/iid',
        '-o',
        `type=local,dest=out/fs-${value}`,
        '.',
      ],
      { cwd: ctx, env: { GREETING: `hello ${value}`, TOKEN: `token ${value}` } },
    );
    assert.is(r.code, 0, r.stderr);
    assert.is(await readFile(join(ctx, `out/fs-${value}/greet.txt`), 'utf8'), `hello ${value}\n`);
    assert.is(await readFile(join(ctx, `out/fs-${value}/tok.txt`), 'utf8'), `token ${value}`);
  }
  assert.match(await readFile(join(ctx, 'out/iid'), 'utf8'), /^sha256:[0-9a-f]{64}$/);
  assert.is(servedCount(), before + 2, 'both served by the one daemon: per-build variables are not part of its identity');
  assert.is(sockets().length, 1);
});

test("-o type=tar,dest=- streams the root filesystem to the client's stdout", async () => {
  const before = servedCount();
  const r = await bin(['build', '-q', '-o', 'type=tar,dest=-', join(REPO, 'fixtures/hello')]);
  assert.is(r.code, 0, r.stderr);
  const names = execFileSync('tar', ['-t'], { input: r.stdout }).toString().split('\n');
  assert.ok(names.includes('app/built.txt'), names.slice(0, 20).join(' '));
  assert.ok(names.includes('bin/busybox'));
  assert.is(servedCount(), before + 1);
});

test('Ctrl-C at the client cancels the served build: exit 130, no container left, nothing tagged', async () => {
  const ctx = await context('slow', { Dockerfile: 'FROM busybox\nRUN echo started && sleep 60\n' });
  const { child, done } = start(['build', '-t', 'slow:1', '--progress', 'plain', ctx]);
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  await waitFor('the RUN to start', () => /s started\n/.test(err), 30_000);
  assert.is.not(containers(), '', 'the step runs');
  child.kill('SIGINT');
  const r = await done;
  assert.is(r.code, 130, r.stderr);
  assert.match(r.stderr, /cancelled/);
  await waitFor('the container to go', () => containers() === '');
  const images = await bin(['images']);
  assert.not.match(images.stdout.toString(), /slow/);
});

test('a killed client cancels its build in the daemon', async () => {
  const ctx = await context('slow-kill', { Dockerfile: 'FROM busybox\nRUN echo started2 && sleep 60\n' });
  const cancelledBefore = cancelledCount();
  const { child, done } = start(['build', '--progress', 'plain', ctx]);
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  await waitFor('the RUN to start', () => /s started2\n/.test(err), 30_000);
  assert.is.not(containers(), '', `the step runs: ${err}`);
  child.kill('SIGKILL');
  await done;
  await waitFor('the container to go', () => containers() === '');
  await waitFor('the daemon to log it', () => cancelledCount() === cancelledBefore + 1);
});

test('concurrent clients are served at once', async () => {
  const before = servedCount();
  const ctxs = await Promise.all([1, 2, 3].map((i) => context(`conc-${i}`, { Dockerfile: `FROM busybox\nRUN echo ${i} > /n\n` })));
  const results = await Promise.all(ctxs.map((c) => bin(['build', '-q', c])));
  for (const r of results) assert.is(r.code, 0, r.stderr);
  assert.is(new Set(results.map((r) => r.stdout.toString())).size, 3);
  assert.is(servedCount(), before + 3, logs());
});

test('a client with another environment gets a daemon of its own; KILN_DAEMON=0 starts none', async () => {
  const hello = join(REPO, 'fixtures/hello');
  const otherPath = { PATH: `${process.env.PATH}:/kiln-test-nonexistent` };
  const r = await bin(['build', '-q', hello], { env: otherPath });
  assert.is(r.code, 0, r.stderr);
  await waitFor('a second daemon', () => sockets().length === 2);
  const served = servedCount();
  assert.is((await bin(['build', '-q', hello], { env: otherPath })).code, 0);
  assert.is(servedCount(), served + 1);

  const plain = join(dir, 'root-nodaemon');
  roots.push(plain);
  assert.is((await kiln(['base', 'busybox'], { root: plain })).code, 0);
  for (const args of [
    ['build', '-q', hello],
    ['build', '-q', '--no-daemon', hello],
  ]) {
    const env = args.includes('--no-daemon') ? {} : { KILN_DAEMON: '0' };
    assert.is((await bin(args, { root: plain, env })).code, 0);
  }
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(sockets(plain), []);
});

test('a daemon that dies mid-build: the client says so (exit 70), and the next build works', async () => {
  const hello = join(REPO, 'fixtures/hello');
  assert.is((await bin(['build', '-q', hello])).code, 0);
  await waitFor('a daemon', () => sockets().length >= 1);
  const ctx = await context('slow-crash', { Dockerfile: 'FROM busybox\nRUN echo started3 && sleep 60\n' });
  const { child, done } = start(['build', '--progress', 'plain', ctx]);
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  await waitFor('the RUN to start', () => /s started3\n/.test(err), 30_000);
  for (const d of await listDaemons(root)) if (d.alive) process.kill(d.pid, 'SIGKILL');
  const r = await done;
  assert.is(r.code, 70, r.stderr);
  assert.match(r.stderr, /the resident builder exited during the build/);
  const next = await bin(['build', '-q', hello]);
  assert.is(next.code, 0, next.stderr);
  await waitFor('the new daemon', async () => (await listDaemons(root)).some((d) => d.alive));
  // The orphaned step's container is cleaned by the next builder to open the root.
  await waitFor('the orphaned container to go', () => containers() === '', 30_000);
});

test('an idle daemon exits and removes its socket and record', async () => {
  const idleRoot = join(dir, 'root-idle');
  roots.push(idleRoot);
  assert.is((await kiln(['base', 'busybox'], { root: idleRoot })).code, 0);
  assert.is((await bin(['build', '-q', join(REPO, 'fixtures/hello')], { root: idleRoot, env: { KILN_DAEMON_IDLE_SECONDS: '1' } })).code, 0);
  await waitFor('the daemon', () => sockets(idleRoot).length === 1);
  const [d] = await listDaemons(idleRoot);
  await waitFor('the idle exit', () => sockets(idleRoot).length === 0, 20_000);
  await waitFor('the process to end', () => {
    try {
      process.kill(d!.pid, 0);
      return false;
    } catch {
      return true;
    }
  });
  assert.equal(await listDaemons(idleRoot), []);
});

test('two daemons started at once for one key: one keeps the socket, the other retires, the record names the survivor', async () => {
  const raceRoot = join(dir, 'root-race');
  roots.push(raceRoot);
  await mkdir(raceRoot, { recursive: true });
  const env = baseEnv();
  const buildId = readBuildId(join(REPO, 'dist'))!;
  const t = daemonTargetFor(['--root', raceRoot, 'build'], env, '/', buildId);
  assert.not.ok('skip' in t);
  if ('skip' in t) return;
  const main = join(REPO, 'dist/cli/daemon/main.js');
  const procs = [0, 1].map(() => spawn(process.execPath, [main, t.root, t.key], { env, stdio: 'ignore', detached: true }));
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  await waitFor('one daemon to retire', () => procs.filter((p) => alive(p.pid!)).length === 1, 20_000);
  const survivor = procs.find((p) => alive(p.pid!))!;
  await waitFor('the record to name the survivor', async () => (await listDaemons(raceRoot)).some((d) => d.pid === survivor.pid && d.alive), 10_000);
  assert.is(sockets(raceRoot).length, 1);
  await stopDaemons(raceRoot);
  assert.not.ok(alive(survivor.pid!));
  assert.equal(sockets(raceRoot), []);
});

test("kiln daemon stop ends the root's daemons", async () => {
  assert.ok((await listDaemons(root)).length >= 1);
  const r = await bin(['daemon', 'stop']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout.toString(), /stopped \d/);
  assert.equal(sockets(), []);
  assert.equal(await listDaemons(root), []);
});

test.run();
