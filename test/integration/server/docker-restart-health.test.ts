/**
 * Restart policies and health checks through `kiln serve` with the real docker CLI: on-failure:N, always until a
 * stop, unless-stopped; a policy container outlives a killed server and is still managed by the next one; a
 * container whose supervisor died is started again when the server boots; health checks from --health-* flags and
 * from the image's HEALTHCHECK, seen in inspect, ps and the event log. Every wait has a deadline.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRoot } from '../../../src/cache/root.js';
import { createContainerStore, type ContainerRecord } from '../../../src/containers/containers.js';
import { cleanupStale } from '../../../src/sandbox/cleanup.js';
import { kiln } from '../../helpers/kiln-cli.js';
import { docker, startServe, type Served } from './serve-helper.js';

const root = mkdtempSync(join(tmpdir(), 'kiln-restart-health-'));
let s: Served;

test.before(async () => {
  const r = await kiln(['base', 'busybox'], { root });
  assert.is(r.code, 0, r.stderr);
  // An image with a HEALTHCHECK (1 s interval) on busybox's layers.
  const store = await openRoot(root);
  const base = await store.images.resolve('busybox');
  await store.images.writeImage({
    config: { ...base.config, config: { ...base.config.config, Healthcheck: { Test: ['CMD-SHELL', 'test -f /etc/passwd'], Interval: 1e9, Retries: 2 } } },
    layers: base.manifest.layers,
    tags: ['checked:latest'],
  });
  await store.close();
  s = await startServe({ root });
});

test.after(async () => {
  await s?.stop();
  // Whatever still runs (detached supervisors and their containers) is stopped and cleaned.
  for (const rec of await createContainerStore({ root }).list()) await kiln(['rm', '-f', rec.id], { root, timeoutMs: 60_000 });
  await cleanupStale(root);
  rmSync(root, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `docker inspect --format FORMAT name`, trimmed. */
async function inspect(name: string, format: string): Promise<string> {
  const r = await docker(s, ['inspect', '--format', format, name]);
  assert.is(r.code, 0, r.stderr);
  return r.stdout.trim();
}

/** Polls `probe` until it returns true, failing with `what` after `ms`. */
async function until(what: string, probe: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) assert.unreachable(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

const record = (name: string): Promise<ContainerRecord> => createContainerStore({ root }).get(name);

test('on-failure:2: a command that exits 1 runs three times and ends exited with RestartCount 2', async () => {
  const r = await docker(s, ['run', '-d', '--name', 'onfail', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'echo run; exit 1']);
  assert.is(r.code, 0, r.stderr);
  await until('onfail to end', async () => (await inspect('onfail', '{{.State.Status}} {{.RestartCount}}')) === 'exited 2');
  assert.is(
    await inspect('onfail', '{{.State.ExitCode}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}'),
    '1 on-failure 2',
  );
  // Its log holds every run; docker wait answers with the last exit.
  assert.is((await docker(s, ['logs', 'onfail'])).stdout, 'run\nrun\nrun\n');
  assert.is((await docker(s, ['wait', 'onfail'])).stdout.trim(), '1');
  assert.is((await docker(s, ['rm', 'onfail'])).code, 0);
});

test('always restarts a container that exits 0 until docker stop; then it stays stopped', async () => {
  assert.is((await docker(s, ['run', '-d', '--name', 'always0', '--restart', 'always', 'busybox', 'sh', '-c', 'sleep 0.3'])).code, 0);
  await until('two restarts', async () => Number(await inspect('always0', '{{.RestartCount}}')) >= 2);
  const ps = await docker(s, ['ps', '--filter', 'name=always0', '--format', '{{.Status}}']);
  assert.match(ps.stdout, /^(Up|Restarting \(0\))/);
  const stop = await docker(s, ['stop', '-t', '2', 'always0'], { timeoutMs: 30_000 });
  assert.is(stop.code, 0, stop.stderr);
  assert.is(await inspect('always0', '{{.State.Status}} {{.State.Running}} {{.State.Restarting}}'), 'exited false false');
  const count = await inspect('always0', '{{.RestartCount}}');
  await sleep(1500);
  assert.is(await inspect('always0', '{{.State.Status}} {{.RestartCount}}'), `exited ${count}`);
  assert.is((await docker(s, ['rm', 'always0'])).code, 0);
});

test('unless-stopped restarts a failing container; docker stop ends it; docker start starts it again', async () => {
  assert.is((await docker(s, ['run', '-d', '--name', 'us', '--restart', 'unless-stopped', 'busybox', 'sh', '-c', 'sleep 0.2; exit 2'])).code, 0);
  await until('a restart', async () => Number(await inspect('us', '{{.RestartCount}}')) >= 1);
  assert.is((await docker(s, ['stop', '-t', '2', 'us'], { timeoutMs: 30_000 })).code, 0);
  assert.is(await inspect('us', '{{.State.Status}}'), 'exited');
  assert.ok((await record('us')).manuallyStopped);
  assert.is((await docker(s, ['start', 'us'])).code, 0);
  assert.not.ok((await record('us')).manuallyStopped);
  const before = Number(await inspect('us', '{{.RestartCount}}'));
  await until('another restart', async () => Number(await inspect('us', '{{.RestartCount}}')) > before);
  assert.is((await docker(s, ['rm', '-f', 'us'], { timeoutMs: 30_000 })).code, 0);
});

test('--rm with a restart policy is refused', async () => {
  const r = await docker(s, ['run', '--rm', '--restart', 'always', 'busybox', 'true']);
  assert.is.not(r.code, 0);
  assert.match(r.stderr, /conflicting options/i);
});

test('attached docker run with a policy shows the first run and exits with its status; the policy goes on', async () => {
  const r = await docker(s, ['run', '--name', 'att', '--restart', 'on-failure:1', 'busybox', 'sh', '-c', 'echo attached-out; exit 3'], { timeoutMs: 60_000 });
  assert.is(r.code, 3, r.stderr);
  assert.is(r.stdout, 'attached-out\n');
  await until('att to end', async () => (await inspect('att', '{{.State.Status}} {{.RestartCount}}')) === 'exited 1');
  assert.is((await docker(s, ['rm', 'att'])).code, 0);
});

test('docker attach and docker wait follow a detached policy container', async () => {
  assert.is((await docker(s, ['run', '-d', '--name', 'follow', '--restart', 'on-failure:1', 'busybox', 'sh', '-c', 'sleep 1.5; echo late; exit 4'])).code, 0);
  const [att, wait] = await Promise.all([
    docker(s, ['attach', '--no-stdin', 'follow'], { timeoutMs: 60_000 }),
    docker(s, ['wait', 'follow'], { timeoutMs: 60_000 }),
  ]);
  assert.match(att.stdout, /late\n/);
  assert.is(wait.stdout.trim(), '4');
  assert.is(await inspect('follow', '{{.State.Status}} {{.RestartCount}}'), 'exited 1');
  assert.is((await docker(s, ['rm', 'follow'])).code, 0);
});

test('health: --health-cmd goes starting → unhealthy, then healthy once the file exists', async () => {
  const r = await docker(s, [
    'run',
    '-d',
    '--name',
    'hc',
    '--health-cmd',
    'test -f /tmp/ok',
    '--health-interval',
    '1s',
    '--health-retries',
    '2',
    'busybox',
    'sleep',
    '300',
  ]);
  assert.is(r.code, 0, r.stderr);
  assert.is(await inspect('hc', '{{.State.Health.Status}}'), 'starting');
  assert.match((await docker(s, ['ps', '--filter', 'name=hc', '--format', '{{.Status}}'])).stdout, /^Up .* \(health: starting\)$/m);
  await until('unhealthy', async () => (await inspect('hc', '{{.State.Health.Status}}')) === 'unhealthy');
  assert.match((await docker(s, ['ps', '--filter', 'name=hc', '--format', '{{.Status}}'])).stdout, /\(unhealthy\)/);
  assert.ok(Number(await inspect('hc', '{{.State.Health.FailingStreak}}')) >= 2);
  assert.is((await docker(s, ['exec', 'hc', 'touch', '/tmp/ok'])).code, 0);
  await until('healthy', async () => (await inspect('hc', '{{.State.Health.Status}}')) === 'healthy');
  assert.match((await docker(s, ['ps', '--filter', 'name=hc', '--format', '{{.Status}}'])).stdout, /^Up .* \(healthy\)$/m);
  const log = JSON.parse(await inspect('hc', '{{json .State.Health.Log}}')) as Array<{ ExitCode: number }>;
  assert.ok(log.length >= 3 && log.length <= 5);
  assert.is(log.at(-1)!.ExitCode, 0);
  const events = readFileSync(join(root, 'events', 'events.jsonl'), 'utf8');
  assert.match(events, /"Action":"health_status: unhealthy"/);
  assert.match(events, /"Action":"health_status: healthy"/);
  assert.is((await docker(s, ['rm', '-f', 'hc'], { timeoutMs: 30_000 })).code, 0);
});

test("health: the image's HEALTHCHECK is honoured; --no-healthcheck disables it", async () => {
  assert.is((await docker(s, ['run', '-d', '--name', 'imghc', 'checked', 'sleep', '300'])).code, 0);
  await until('healthy', async () => (await inspect('imghc', '{{.State.Health.Status}}')) === 'healthy');
  assert.is((await docker(s, ['run', '-d', '--name', 'nohc', '--no-healthcheck', 'checked', 'sleep', '300'])).code, 0);
  await sleep(2500);
  assert.is(await inspect('nohc', '{{json .State.Health}}'), 'null');
  assert.match((await docker(s, ['ps', '--filter', 'name=nohc', '--format', '{{.Status}}'])).stdout, /^Up [^(]*$/m);
  assert.is((await docker(s, ['rm', '-f', 'imghc', 'nohc'], { timeoutMs: 30_000 })).code, 0);
});

test('a --restart always container outlives a killed kiln serve and is managed by the next one', async () => {
  assert.is((await docker(s, ['run', '-d', '--name', 'survivor', '--restart', 'always', 'busybox', 'sh', '-c', 'sleep 0.5'])).code, 0);
  await until('a restart', async () => Number(await inspect('survivor', '{{.RestartCount}}')) >= 1);
  s.proc.kill('SIGKILL');
  await s.stop();
  const count = (await record('survivor')).restartCount ?? 0;
  const deadline = Date.now() + 30_000;
  while (((await record('survivor')).restartCount ?? 0) <= count + 1) {
    assert.ok(Date.now() < deadline, 'survivor did not keep restarting without the server');
    await sleep(200);
  }
  s = await startServe({ root });
  assert.match(await inspect('survivor', '{{.State.Status}}'), /^(running|restarting)$/);
  assert.is((await docker(s, ['stop', '-t', '2', 'survivor'], { timeoutMs: 30_000 })).code, 0);
  assert.is(await inspect('survivor', '{{.State.Status}}'), 'exited');
  assert.is((await docker(s, ['rm', 'survivor'])).code, 0);
});

test('kiln serve starts again an always or unless-stopped container whose supervisor died, not a stopped unless-stopped one', async () => {
  for (const [name, policy] of [
    ['boot-always', 'always'],
    ['boot-us', 'unless-stopped'],
    ['boot-stopped', 'unless-stopped'],
  ]) {
    const r = await docker(s, ['run', '-d', '--name', name!, '--restart', policy!, 'busybox', 'sleep', '300']);
    assert.is(r.code, 0, r.stderr);
  }
  assert.is((await docker(s, ['stop', '-t', '1', 'boot-stopped'], { timeoutMs: 30_000 })).code, 0);
  const before = new Map<string, ContainerRecord>();
  for (const name of ['boot-always', 'boot-us']) {
    const rec = await record(name);
    assert.ok(rec.pid && rec.pid !== s.proc.pid, 'a detached supervisor runs it');
    before.set(name, rec);
    process.kill(rec.pid!, 'SIGKILL');
  }
  await s.stop();
  s = await startServe({ root });
  for (const name of ['boot-always', 'boot-us']) {
    await until(`${name} to run again`, async () => {
      const rec = await record(name);
      return rec.status === 'running' && rec.pid !== before.get(name)!.pid && rec.startedAt !== before.get(name)!.startedAt;
    });
  }
  assert.is(await inspect('boot-stopped', '{{.State.Status}}'), 'exited');
  assert.is((await docker(s, ['rm', '-f', 'boot-always', 'boot-us', 'boot-stopped'], { timeoutMs: 60_000 })).code, 0);
});

test.run();
