/**
 * A step's layer blob is fsynced and published while the next step runs (step-runner.ts, `settleDurable`): when
 * a build returns, successful or failed, every record it wrote names a blob that is in the store, the image's
 * layers are all there, and no blob write of the build is left behind in its scratch space.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdir } from 'node:fs/promises';
import { openBuildCache } from '../../../src/cache/build-cache.js';
import { rejects } from '../../helpers/assert.js';
import { createHarness, type Harness } from './harness.js';

let h: Harness;

test.before(async () => {
  h = await createHarness();
});
test.after(async () => {
  await h?.close();
});

/** Every build-cache record's layer blobs, and whether each is in the store. */
async function recordBlobs(): Promise<Array<{ digest: string; stored: boolean }>> {
  const cache = await openBuildCache(h.rootDir);
  const out: Array<{ digest: string; stored: boolean }> = [];
  for (const rec of await cache.list()) {
    for (const d of Object.values(rec.result.layer?.blobs ?? {})) if (d) out.push({ digest: d.digest, stored: await h.builder.root.content.has(d.digest) });
  }
  return out;
}

const steps = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `RUN echo ${tag}${i} > /f${i}`);

test('a build returns with every layer stored and every record written, one per executed step', async () => {
  const before = (await recordBlobs()).length;
  const ctx = await h.context({ Dockerfile: ['FROM busybox', ...steps(6, 'ok'), ''].join('\n') });
  const r = await h.build(ctx, { tags: ['durable:ok'], noCache: true });
  assert.is(r.stepsExecuted, 6);
  const img = await h.image('durable:ok');
  for (const l of img.manifest.layers) assert.ok(await h.builder.root.content.has(l.digest), `${l.digest} is stored`);
  const blobs = await recordBlobs();
  assert.is(blobs.length - before, 6, 'one record per executed step');
  assert.ok(
    blobs.every((b) => b.stored),
    'no record names a missing blob',
  );
});

test('a build that fails on a later step has stored the blobs and records of the steps before it', async () => {
  const before = (await recordBlobs()).length;
  const ctx = await h.context({ Dockerfile: ['FROM busybox', ...steps(4, 'fail'), 'RUN exit 7', ''].join('\n') });
  await rejects(() => h.build(ctx, { noCache: true }), 'BUILD_STEP_FAILED');
  const blobs = await recordBlobs();
  assert.is(blobs.length - before, 4);
  assert.ok(blobs.every((b) => b.stored));
  // The builder's scratch space holds no half-stored blob once the build has returned.
  const left = (await readdir(h.builder.root.tmpDir).catch(() => [] as string[])).filter((n) => n.startsWith('blob-'));
  assert.equal(left, []);
});

test.run();
