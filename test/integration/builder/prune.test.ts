import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { collectGarbage } from '../../../src/cache/gc.js';
import { createSnapshotter } from '../../../src/cache/snapshotter.js';
import { openBuildCache } from '../../../src/cache/build-cache.js';
import { createHarness, type Harness } from './harness.js';

let h: Harness;

test.before(async () => {
  h = await createHarness();
});
test.after(async () => {
  await h?.close();
});

test('build-cache records are GC roots: prune keeps their layers, prune --all drops them and the full collection frees their snapshots', async () => {
  const ctx = await h.context({ Dockerfile: 'FROM busybox\nRUN echo one > /one\nRUN echo two > /two\n' });
  await h.build(ctx); // untagged: only the build cache keeps its layers
  const root = h.builder.root;
  const cache = await openBuildCache(h.rootDir);
  assert.is((await cache.list()).length, 2);

  await collectGarbage(root, { removeDangling: true });
  assert.is((await h.build(ctx)).stepsExecuted, 0, 'a plain prune keeps the build cache and its blobs');

  assert.is((await readdir(join(h.rootDir, 'build-cache', 'inputs'))).length, 2);
  const snap = createSnapshotter({ root: root.paths.snapshots, content: root.content });
  const before = (await snap.list()).map((x) => x.key);
  const gc = await collectGarbage(root, { removeDangling: true, all: true, snapshotGraceMs: 0 });
  assert.ok(gc.removedRoots.length >= 2);
  assert.is((await cache.list()).length, 0);
  assert.equal(await readdir(join(h.rootDir, 'build-cache', 'inputs')), [], "the dropped records' inputs went with them");
  assert.ok(gc.removedSnapshots.length >= 2, `removed ${gc.removedSnapshots.length} of ${before.length}`);
  const after = new Set((await snap.list()).map((x) => x.key));
  for (const k of gc.removedSnapshots) assert.ok(before.includes(k) && !after.has(k), k);
  assert.is((await h.build(ctx)).stepsExecuted, 2, 'after prune --all the steps run again');
});

test('kiln prune --all leaves no inputs files of the records it dropped, and the next build runs its steps again', async () => {
  const { kiln } = await import('../../helpers/kiln-cli.js');
  const ctx = await h.context({ Dockerfile: 'FROM busybox\nRUN echo a > /a\nCOPY Dockerfile /df\n' });
  await h.build(ctx, { tags: ['kept:1'] });
  const inputsDir = join(h.rootDir, 'build-cache', 'inputs');
  const before = await readdir(inputsDir);
  assert.ok(before.length >= 2);
  const r = await kiln(['prune', '--all'], { root: h.rootDir });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /Deleted build cache entries: \d+/);
  assert.is((await openBuildCache(h.rootDir).then((c) => c.list())).length, 0);
  assert.equal(await readdir(inputsDir), []);
  const again = await h.build(ctx, { tags: ['kept:1'] });
  assert.is(again.stepsExecuted, 2);
  assert.is((await readdir(inputsDir)).length, 2, 'the rebuilt RUN and COPY records have their inputs again');
});

test('opening a builder unmounts and removes what a killed build left mounted', async () => {
  const { mkdir } = await import('node:fs/promises');
  const { execFileSync } = await import('node:child_process');
  const { openBuilder } = await import('../../../src/builder/open.js');
  const { mountsUnder } = await import('../../../src/sandbox/mount.js');
  const dead = join(h.rootDir, 'tmp', '999999999.1-build-dead', 'mnt-x');
  await mkdir(dead, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', dead]);
  const b = await openBuilder(h.rootDir);
  await b.close();
  assert.equal(await mountsUnder(join(h.rootDir, 'tmp', '999999999.1-build-dead')), []);
  assert.not.ok((await readdir(join(h.rootDir, 'tmp'))).includes('999999999.1-build-dead'));
});

test.run();
