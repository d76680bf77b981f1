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

test.run();
