/**
 * `kiln run --restart` and the `--health-*` flags through the kiln CLI: a foreground run with a policy shows its
 * first run and exits with its status while a detached supervisor applies the policy; `kiln stop` ends the
 * restarting; `kiln ps` shows health; bad combinations are refused. Every wait has a deadline.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createContainerStore, type ContainerRecord } from '../../../src/containers/containers.js';
import { cleanupStale } from '../../../src/sandbox/cleanup.js';
import { kiln } from '../../helpers/kiln-cli.js';

let dir = '';
let root = '';

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-cli-restart-'));
  root = join(dir, 'root');
  const r = await kiln(['base', 'busybox'], { root });
  assert.is(r.code, 0, r.stderr);
});

test.after(async () => {
  for (const rec of await createContainerStore({ root }).list()) await kiln(['rm', '-f', rec.id], { root, timeoutMs: 60_000 });
  await cleanupStale(root);
  await rm(dir, { recursive: true, force: true });
});

const record = (name: string): Promise<ContainerRecord> => createContainerStore({ root }).get(name);

async function until(what: string, probe: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) assert.unreachable(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('kiln run --restart on-failure:2 exits with the first run; the container ends exited with RestartCount 2', async () => {
  const r = await kiln(['run', '--name', 'of', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'echo once; exit 1'], { root, timeoutMs: 60_000 });
  assert.is(r.code, 1, r.stderr);
  assert.is(r.stdout, 'once\n', r.stderr);
  await until('of to end', async () => {
    const rec = await record('of');
    return rec.status === 'exited' && rec.restartCount === 2;
  });
  assert.is((await kiln(['logs', 'of'], { root })).stdout, 'once\nonce\nonce\n');
});

test('kiln run -d --restart always restarts until kiln stop', async () => {
  assert.is((await kiln(['run', '-d', '--name', 'al', '--restart', 'always', 'busybox', 'sh', '-c', 'sleep 0.2'], { root })).code, 0);
  await until('restarts', async () => ((await record('al')).restartCount ?? 0) >= 2);
  assert.is((await kiln(['stop', 'al'], { root, timeoutMs: 30_000 })).code, 0);
  const count = (await record('al')).restartCount;
  await new Promise((r) => setTimeout(r, 1500));
  const rec = await record('al');
  assert.is(rec.status, 'exited');
  assert.is(rec.restartCount, count);
});

test('kiln ps shows health: (health: starting) in the start period, (unhealthy) after the retries', async () => {
  // Failures in the start period do not count: this one stays starting.
  const a = await kiln(
    ['run', '-d', '--name', 'hs', '--health-cmd', 'false', '--health-interval', '500ms', '--health-start-period', '5m', 'busybox', 'sleep', '300'],
    { root },
  );
  assert.is(a.code, 0, a.stderr);
  const b = await kiln(
    ['run', '-d', '--name', 'hp', '--health-cmd', 'false', '--health-interval', '500ms', '--health-retries', '1', 'busybox', 'sleep', '300'],
    { root },
  );
  assert.is(b.code, 0, b.stderr);
  await until('unhealthy', async () => (await record('hp')).health?.status === 'unhealthy');
  const ps = (await kiln(['ps'], { root })).stdout;
  assert.match(ps, /Up .* \(unhealthy\)\s+hp/);
  assert.match(ps, /Up .* \(health: starting\)\s+hs/);
  assert.ok(((await record('hs')).health?.log.length ?? 0) >= 1, 'the start period probes ran');
  assert.is((await kiln(['rm', '-f', 'hp', 'hs'], { root, timeoutMs: 30_000 })).code, 0);
});

const REFUSED: Array<[string[], RegExp]> = [
  [['--rm', '--restart', 'always'], /conflicting options/],
  [['--restart', 'sometimes'], /invalid restart policy/],
  [['--restart', 'always:2'], /only be used with 'on-failure'/],
  [['--no-healthcheck', '--health-cmd', 'true'], /--no-healthcheck conflicts/],
  [['--health-interval', 'soon'], /--health-interval/],
  [['--health-retries', '-1'], /--health-retries/],
  [['-t', '--restart', 'always'], /cannot keep -i or -t/],
];

for (const [args, message] of REFUSED) {
  test(`kiln run ${args.join(' ')} is refused and leaves no container`, async () => {
    const before = (await createContainerStore({ root }).list()).length;
    const r = await kiln(['run', ...args, 'busybox', 'true'], { root });
    assert.is.not(r.code, 0);
    assert.match(r.stderr, message);
    assert.is((await createContainerStore({ root }).list()).length, before);
  });
}

test.run();
