/**
 * Container labels, list filters, container prune and image removal conflicts through `kiln serve` with the real
 * docker CLI (what docker-compose relies on to find its own containers and nobody else's).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startServe, docker, type Served } from './serve-helper.js';

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
