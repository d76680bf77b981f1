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

test.run();
