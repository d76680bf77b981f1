/**
 * `docker run` options through `kiln serve` with the real docker CLI: what kiln cannot honour is refused before a
 * container exists, with the option named; what it honours runs. `docker logs --tail` and `-t`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServe, docker, type Served } from './serve-helper.js';

let s: Served;
const host = mkdtempSync(join(tmpdir(), 'kiln-docker-options-'));

test.before(async () => {
  writeFileSync(join(host, 'f.txt'), 'from-host\n');
  s = await startServe({ args: ['--allow-bind', host] });
  const net = await docker(s, ['network', 'create', '--subnet', '10.213.99.0/24', 'kiln-opt-net']);
  assert.is(net.code, 0, net.stderr);
});

test.after(async () => {
  await docker(s, ['network', 'rm', 'kiln-opt-net']);
  await s?.stop();
  rmSync(host, { recursive: true, force: true });
});

const REFUSED: Array<[string[], RegExp]> = [
  [['-d', '-i'], /-i \(--interactive\) with -d/],
  [['--link', 'other:x'], /--link/],
  [['--dns', '1.1.1.1'], /--dns/],
  [['--ulimit', 'nofile=10:10'], /--ulimit/],
  [['--shm-size', '64m'], /--shm-size/],
  [['--log-driver', 'none'], /--log-driver none/],
  [['--stop-timeout', '5'], /--stop-timeout/],
  [['--sysctl', 'net.ipv4.ip_forward=1'], /--sysctl/],
  [['--init'], /--init/],
  [['--memory-swap', '100m', '-m', '50m'], /--memory-swap/],
  [['--cpu-shares', '10'], /--cpu-shares/],
  [['--pid', 'host'], /--pid host/],
  [['--mount', 'type=volume,dst=/d,volume-driver=x'], /--mount type=volume,dst=\/d,volume-driver=x/],
  [['--mount', 'type=bind,src=/tmp,dst=/d,bind-propagation=shared'], /bind-propagation/],
];

for (const [args, message] of REFUSED) {
  test(`docker run ${args.join(' ')} is refused, naming the option, and leaves no container`, async () => {
    // Without --rm: the CLI itself refuses --rm with --restart.
    const r = await docker(s, ['run', ...args, 'busybox', 'true']);
    assert.is.not(r.code, 0);
    assert.match(r.stderr, message);
    assert.match(r.stderr, /not supported by kiln serve/);
    assert.is((await docker(s, ['ps', '-a', '-q'])).stdout.trim(), '');
  });
}

const ACCEPTED: Array<[string[], string, string]> = [
  [['-v', '/data'], 'echo x > /data/x && cat /data/x', 'x\n'],
  [['--mount', 'type=volume,dst=/data'], 'echo y > /data/y && cat /data/y', 'y\n'],
  [['--mount', 'type=volume,src=kiln-opt-vol,dst=/data'], 'echo z > /data/z && cat /data/z', 'z\n'],
  [['--mount', `type=bind,src=${host},dst=/h,readonly`], 'cat /h/f.txt; touch /h/no 2>/dev/null || echo ro', 'from-host\nro\n'],
  [['--restart', 'no', '--no-healthcheck', '--log-driver', 'json-file', '--stop-signal', 'SIGINT'], 'echo ok', 'ok\n'],
  [['--health-cmd', 'true', '--health-interval', '1s', '--health-retries', '2', '--label', 'a=b'], 'echo ok', 'ok\n'],
  [['-e', 'A=1', '-w', '/tmp', '-u', '65534'], 'echo $A $(pwd) $(id -u)', '1 /tmp 65534\n'],
  [['--hostname', 'h1', '--add-host', 'db:10.1.2.3'], 'hostname; grep -w db /etc/hosts | cut -f1', 'h1\n10.1.2.3\n'],
  [['--read-only', '--tmpfs', '/scratch'], 'touch /x 2>/dev/null || echo ro; touch /scratch/y && echo tmp', 'ro\ntmp\n'],
  [['--cap-drop', 'CHOWN'], 'chown 1 /tmp 2>/dev/null || echo denied', 'denied\n'],
  [['--network', 'kiln-opt-net', '--ip', '10.213.99.7', '--network-alias', 'opt'], 'ip -4 -o addr show eth0 | grep -o 10.213.99.7/24', '10.213.99.7/24\n'],
  [['--network', 'none'], 'ip -o link | grep -c eth0 || true', '0\n'],
];

for (const [args, script, out] of ACCEPTED) {
  test(`docker run ${args.join(' ')} runs`, async () => {
    const r = await docker(s, ['run', '--rm', ...args, 'busybox', 'sh', '-c', script]);
    assert.is(r.stderr, '');
    assert.is(r.code, 0);
    assert.is(r.stdout, out);
  });
}

test('docker logs --tail 2 shows the last two lines; -t prefixes each with its time; --tail 0 shows none', async () => {
  const c = await docker(s, ['run', '-d', 'busybox', 'sh', '-c', 'for i in 1 2 3 4; do echo line$i; done; sleep 0.3; echo err >&2']);
  assert.is(c.code, 0, c.stderr);
  const id = c.stdout.trim();
  try {
    await docker(s, ['wait', id]);
    const all = await docker(s, ['logs', id]);
    assert.is(all.stdout, 'line1\nline2\nline3\nline4\n');
    assert.is(all.stderr, 'err\n');
    const t = await docker(s, ['logs', '--tail', '2', id]);
    assert.is(t.stdout, 'line4\n');
    assert.is(t.stderr, 'err\n');
    const t3 = await docker(s, ['logs', '--tail', '3', id]);
    assert.is(t3.stdout, 'line3\nline4\n');
    const ts = await docker(s, ['logs', '-t', '--tail', '1', id]);
    assert.match(ts.stderr, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z err\n$/);
    const none = await docker(s, ['logs', '--tail', '0', id]);
    assert.is(none.stdout + none.stderr, '');
    const future = await docker(s, ['logs', '--since', '2099-01-01T00:00:00Z', id]);
    assert.is(future.stdout + future.stderr, '');
  } finally {
    await docker(s, ['rm', '-f', id]);
  }
});

test('docker image prune: dangling only by default; -a takes unused tagged images, never one a container uses; label and until filters; docker images before/since', async () => {
  const build = (tag: string, label: string) =>
    docker(s, ['build', '-q', '-t', tag, '--label', label, '-'], { input: `FROM busybox\nRUN echo ${tag} > /tag\n` });
  for (const [tag, label] of [
    ['prune-keep:1', 'keep=yes'],
    ['prune-go:1', 'keep=no'],
    ['prune-used:1', 'keep=no'],
  ]) {
    const r = await build(tag!, label!);
    assert.is(r.code, 0, r.stderr);
  }
  assert.is((await docker(s, ['create', '--name', 'prune-user', 'prune-used:1', 'true'])).code, 0);
  const before = (await docker(s, ['images', '--filter', 'before=prune-used:1', '--format', '{{.Repository}}'])).stdout.split('\n');
  assert.ok(before.includes('prune-keep') && before.includes('prune-go') && !before.includes('prune-used'), before.join(' '));
  const since = (await docker(s, ['images', '--filter', 'since=prune-go:1', '--format', '{{.Repository}}'])).stdout.trim();
  assert.is(since, 'prune-used');
  const plain = await docker(s, ['image', 'prune', '-f']);
  assert.is(plain.code, 0, plain.stderr);
  assert.not.match(plain.stdout, /untagged/i);
  // until: only images created before an hour ago; the ones just built are younger.
  const old = await docker(s, ['image', 'prune', '-a', '-f', '--filter', 'until=1h', '--filter', 'label=keep=no']);
  assert.is(old.code, 0, old.stderr);
  assert.not.match(old.stdout, /prune-go/);
  const labelled = await docker(s, ['image', 'prune', '-a', '-f', '--filter', 'label=keep=no']);
  assert.is(labelled.code, 0, labelled.stderr);
  assert.match(labelled.stdout, /untagged: prune-go:1/);
  assert.not.match(labelled.stdout, /prune-used/);
  const left = (await docker(s, ['images', '--format', '{{.Repository}}'])).stdout;
  assert.match(left, /prune-keep/);
  assert.match(left, /prune-used/);
  assert.not.match(left, /prune-go/);
  const bad = await docker(s, ['image', 'prune', '-f', '--filter', 'colour=red']);
  assert.is.not(bad.code, 0);
  assert.match(bad.stderr, "invalid filter 'colour'");
  const badList = await docker(s, ['images', '--filter', 'colour=red']);
  assert.is.not(badList.code, 0);
  assert.match(badList.stderr, "invalid filter 'colour'");
  assert.is((await docker(s, ['rm', 'prune-user'])).code, 0);
});

test.run();
