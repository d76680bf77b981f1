/**
 * Container labels, list filters, container prune and image removal conflicts through `kiln serve` with the real
 * docker CLI (what docker-compose relies on to find its own containers and nobody else's).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startServe, docker, type Served } from './serve-helper.js';
import { freePort } from '../../helpers/registry.js';

let s: Served;

test.before(async () => {
  s = await startServe();
});

test.after(async () => {
  const r = await docker(s, ['ps', '-aq']);
  for (const id of r.stdout.split('\n').filter(Boolean)) await docker(s, ['rm', '-f', id]);
  await s?.stop();
});

async function ok(args: string[]): Promise<string> {
  const r = await docker(s, args);
  assert.is(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

test('docker run --label keeps the labels: inspect Config.Labels, docker ps Labels', async () => {
  await ok(['run', '-d', '--label', 'app=x', '--label', 'tier=web', '--name', 'lab-a', 'busybox', 'sleep', '60']);
  await ok(['run', '-d', '--name', 'lab-b', 'busybox', 'sleep', '60']);
  assert.equal(JSON.parse(await ok(['inspect', '-f', '{{json .Config.Labels}}', 'lab-a'])), { app: 'x', tier: 'web' });
  assert.equal(JSON.parse(await ok(['inspect', '-f', '{{json .Config.Labels}}', 'lab-b'])), {});
  const labels = await ok(['ps', '--format', '{{.Names}} {{.Label "app"}}']);
  assert.ok(labels.split('\n').includes('lab-a x'), labels);
});

test('docker ps --filter: label, name, status, ancestor; an unknown filter is refused', async () => {
  assert.is(await ok(['ps', '--filter', 'label=app=x', '--format', '{{.Names}}']), 'lab-a');
  assert.is(await ok(['ps', '--filter', 'label=app', '--filter', 'label=tier=web', '--format', '{{.Names}}']), 'lab-a');
  assert.is(await ok(['ps', '--filter', 'label=app=y', '--format', '{{.Names}}']), '');
  assert.is(await ok(['ps', '--filter', 'name=lab-b', '--format', '{{.Names}}']), 'lab-b');
  assert.equal((await ok(['ps', '--filter', 'ancestor=busybox', '--format', '{{.Names}}'])).split('\n').sort(), ['lab-a', 'lab-b']);
  assert.is((await docker(s, ['run', '--name', 'lab-done', '--label', 'app=x', 'busybox', 'sh', '-c', 'exit 3'])).code, 3);
  assert.is(await ok(['ps', '-a', '--filter', 'status=exited', '--format', '{{.Names}}']), 'lab-done');
  assert.is(await ok(['ps', '-a', '--filter', 'exited=3', '--format', '{{.Names}}']), 'lab-done');
  assert.is(await ok(['ps', '--filter', 'status=exited', '--format', '{{.Names}}']), 'lab-done');
  const bad = await docker(s, ['ps', '--filter', 'colour=red']);
  assert.is.not(bad.code, 0);
  assert.match(bad.stderr, "invalid filter 'colour'");
});

test('docker ps --filter network, volume, publish, expose, health, before and since', async () => {
  await ok(['network', 'create', 'lab-net']);
  const port = await freePort();
  await ok(['run', '-d', '--name', 'lab-net-1', '--network', 'lab-net', '-v', 'lab-vol:/data', '-p', `127.0.0.1:${port}:80`, 'busybox', 'sleep', '60']);
  await ok(['run', '-d', '--name', 'lab-health', '--health-cmd', 'true', '--health-interval', '1s', 'busybox', 'sleep', '60']);
  const ps = (filter: string) => ok(['ps', '--filter', filter, '--format', '{{.Names}}']);
  try {
    assert.is(await ps('network=lab-net'), 'lab-net-1');
    const netId = await ok(['network', 'inspect', '-f', '{{.Id}}', 'lab-net']);
    assert.is(await ps(`network=${netId}`), 'lab-net-1');
    assert.is(await ps('volume=lab-vol'), 'lab-net-1');
    assert.is(await ps('volume=/data'), 'lab-net-1');
    assert.is(await ps('publish=80'), 'lab-net-1');
    assert.is(await ps('expose=80/tcp'), 'lab-net-1');
    assert.is(await ps('publish=81'), '');
    assert.ok((await ps('health=none')).split('\n').includes('lab-net-1'));
    assert.ok(!(await ps('health=none')).split('\n').includes('lab-health'));
    const before = (await ps('before=lab-health')).split('\n');
    assert.ok(before.includes('lab-net-1') && before.includes('lab-a') && !before.includes('lab-health'), before.join(' '));
    assert.is(await ps('since=lab-net-1'), 'lab-health');
    const bad = await docker(s, ['ps', '--filter', 'health=sick']);
    assert.is.not(bad.code, 0);
    assert.match(bad.stderr, "invalid filter 'health=sick'");
  } finally {
    await docker(s, ['rm', '-f', 'lab-net-1', 'lab-health']);
    await docker(s, ['network', 'rm', 'lab-net']);
    await docker(s, ['volume', 'rm', 'lab-vol']);
  }
});

test('docker container prune removes stopped containers only, and only those its label filter selects', async () => {
  assert.is((await docker(s, ['run', '--name', 'lab-done2', 'busybox', 'true'])).code, 0);
  const doneId = await ok(['inspect', '-f', '{{.Id}}', 'lab-done']);
  const first = await ok(['container', 'prune', '-f', '--filter', 'label=app=x']);
  assert.match(first, doneId);
  const names = async () => (await ok(['ps', '-a', '--format', '{{.Names}}'])).split('\n').sort();
  assert.equal(await names(), ['lab-a', 'lab-b', 'lab-done2']);
  await ok(['container', 'prune', '-f']);
  assert.equal(await names(), ['lab-a', 'lab-b']);
  const bad = await docker(s, ['container', 'prune', '-f', '--filter', 'status=exited']);
  assert.is.not(bad.code, 0);
  assert.match(bad.stderr, "invalid filter 'status'");
});

test('docker rmi of the image a container uses is a conflict; the image stays', async () => {
  const id = await ok(['image', 'inspect', '-f', '{{.Id}}', 'busybox']);
  const short = id.replace(/^sha256:/, '').slice(0, 12);
  const byTag = await docker(s, ['rmi', 'busybox']);
  assert.is.not(byTag.code, 0);
  assert.match(byTag.stderr, `conflict: unable to remove repository reference "busybox" (must force) - container`);
  const byId = await docker(s, ['rmi', '-f', short]);
  assert.is.not(byId.code, 0);
  assert.match(byId.stderr, `conflict: unable to delete ${short} (cannot be forced) - image is being used by running container`);
  assert.is(await ok(['image', 'inspect', '-f', '{{.Id}}', 'busybox']), id);
});

test.run();
