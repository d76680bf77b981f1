import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { collectGarbage } from '../../../src/cache/gc.js';
import { createSnapshotter } from '../../../src/cache/snapshotter.js';
import { openBuildCache, sweepBuildCache } from '../../../src/cache/build-cache.js';
import { createHarness, type Harness } from './harness.js';

let h: Harness;

test.before(async () => {
  h = await createHarness();
});
test.after(async () => {
  await h?.close();
});

test('build-cache records are GC roots: prune keeps their layers, prune --all drops them and the sweep frees snapshots', async () => {
  const ctx = await h.context({ Dockerfile: 'FROM busybox\nRUN echo one > /one\nRUN echo two > /two\n' });
  await h.build(ctx); // untagged: only the build cache keeps its layers
  const root = h.builder.root;
  const cache = await openBuildCache(h.rootDir);
  assert.is((await cache.list()).length, 2);

  await collectGarbage(root, { removeDangling: true });
  assert.is((await h.build(ctx)).stepsExecuted, 0, 'a plain prune keeps the build cache and its blobs');

  const gc = await collectGarbage(root, { removeDangling: true, all: true });
  assert.ok(gc.removedRoots.length >= 2);
  assert.is((await cache.list()).length, 0);
  const snap = createSnapshotter({ root: root.paths.snapshots, content: root.content });
  const before = (await snap.list()).length;
  const swept = await sweepBuildCache(h.rootDir, snap, { minAgeMs: 0 });
  assert.ok(swept.snapshots.length >= 2, `removed ${swept.snapshots.length} of ${before}`);
  assert.is(swept.inputs, 2);
  assert.equal(await readdir(join(h.rootDir, 'build-cache', 'inputs')), []);
  assert.is((await h.build(ctx)).stepsExecuted, 2, 'after prune --all the steps run again');
});

test('opening a builder unmounts and removes what a killed build left mounted', async () => {
  const { mkdir } = await import('node:fs/promises');
  const { execFileSync } = await import('node:child_process');
  const { openBuilder } = await import('../../../src/builder/open.js');
  const { mountsUnder } = await import('../../../src/executor/mount.js');
  const dead = join(h.rootDir, 'tmp', '999999999.1-build-dead', 'mnt-x');
  await mkdir(dead, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', dead]);
  const b = await openBuilder(h.rootDir);
  await b.close();
  assert.equal(await mountsUnder(join(h.rootDir, 'tmp', '999999999.1-build-dead')), []);
  assert.not.ok((await readdir(join(h.rootDir, 'tmp'))).includes('999999999.1-build-dead'));
});

test.run();
