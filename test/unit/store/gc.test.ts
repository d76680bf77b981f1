import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { collectGarbage } from '../../../src/cache/gc.js';
import { MediaType } from '../../../src/image/types.js';
import { blobCount, cleanupRoots, configFor, tempRoot } from './store-fixtures.js';

test.after(cleanupRoots);

async function image(root: Awaited<ReturnType<typeof tempRoot>>, text: string, tags: string[]) {
  const blob = await root.content.writeBuffer(text);
  const w = await root.images.writeImage({
    config: configFor([blob.digest]),
    layers: [{ mediaType: MediaType.OciLayer, digest: blob.digest, size: blob.size }],
    tags,
  });
  return { layer: blob.digest, ...w };
}

test('prune keeps everything a tag reaches and removes the rest', async () => {
  const root = await tempRoot();
  const kept = await image(root, 'kept', ['keep']);
  const stray = await root.content.writeBuffer('stray');
  const r = await collectGarbage(root, { removeDangling: true });
  assert.equal(r.removedBlobs, [stray.digest]);
  for (const d of [kept.layer, kept.configDigest, kept.manifestDigest]) assert.ok(await root.content.has(d));
});

test('prune removes a dangling image and its blobs, not a shared layer', async () => {
  const root = await tempRoot();
  const old = await image(root, 'shared', ['x']);
  const cfg2 = configFor([old.layer], { author: 'second' });
  const now = await root.images.writeImage({ config: cfg2, layers: [{ mediaType: MediaType.OciLayer, digest: old.layer, size: 6 }], tags: ['x'] });
  const r = await collectGarbage(root, { removeDangling: true });
  assert.equal(r.removedImages, [old.manifestDigest]);
  assert.equal(r.removedBlobs.sort(), [old.configDigest, old.manifestDigest].sort());
  assert.ok(await root.content.has(old.layer), 'the layer the tagged image shares stays');
  assert.ok(await root.content.has(now.manifestDigest));
});

test('a live lease protects blobs; a released one does not', async () => {
  const root = await tempRoot();
  const lease = root.lease();
  const blob = await root.content.writeBuffer('in-flight', {}, { lease });
  await collectGarbage(root);
  assert.ok(await root.content.has(blob.digest));
  await lease.release();
  const r = await collectGarbage(root);
  assert.equal(r.removedBlobs, [blob.digest]);
});

test('GC root files keep their blobs; --all drops prunable ones, until= only old ones', async () => {
  const root = await tempRoot();
  const a = await root.content.writeBuffer('cache-a');
  const b = await root.content.writeBuffer('cache-b');
  const pinned = await root.content.writeBuffer('pinned');
  await writeFile(
    join(root.paths.gcRoots, 'a.json'),
    JSON.stringify({ digests: [a.digest], prunable: true, lastUsed: new Date(Date.now() - 48 * 3600e3).toISOString() }),
  );
  await writeFile(join(root.paths.gcRoots, 'b.json'), JSON.stringify({ digests: [b.digest], prunable: true, lastUsed: new Date().toISOString() }));
  await writeFile(join(root.paths.gcRoots, 'p.json'), JSON.stringify({ digests: [pinned.digest] }));
  assert.equal((await collectGarbage(root)).removedBlobs, []);
  const r1 = await collectGarbage(root, { all: true, until: new Date(Date.now() - 24 * 3600e3) });
  assert.equal(r1.removedRoots, ['a.json']);
  assert.equal(r1.removedBlobs, [a.digest]);
  const r2 = await collectGarbage(root, { all: true });
  assert.equal(r2.removedRoots, ['b.json']);
  assert.ok(await root.content.has(pinned.digest), 'non-prunable roots are never dropped');
});

test('keepStorage drops the oldest build cache first until the store fits', async () => {
  const root = await tempRoot();
  const blobs = [];
  for (let i = 0; i < 3; i++) {
    const b = await root.content.writeBuffer(Buffer.alloc(1000, i));
    blobs.push(b);
    await writeFile(
      join(root.paths.gcRoots, `c${i}.json`),
      JSON.stringify({ digests: [b.digest], prunable: true, lastUsed: new Date(1000 * (i + 1)).toISOString() }),
    );
  }
  const r = await collectGarbage(root, { keepStorage: 2000 });
  assert.equal(r.removedRoots, ['c0.json']);
  assert.is(await blobCount(root), 2);
});

test('extraRoots and candidates limit what goes', async () => {
  const root = await tempRoot();
  const a = await root.content.writeBuffer('x1');
  const b = await root.content.writeBuffer('x2');
  const c = await root.content.writeBuffer('x3');
  const r = await collectGarbage(root, { extraRoots: [() => [a.digest]], candidates: [a.digest, b.digest] });
  assert.equal(r.removedBlobs, [b.digest]);
  assert.ok(await root.content.has(c.digest), 'not a candidate');
});

test('dryRun reports without deleting', async () => {
  const root = await tempRoot();
  const a = await root.content.writeBuffer('dry');
  const r = await collectGarbage(root, { dryRun: true });
  assert.equal(r.removedBlobs, [a.digest]);
  assert.ok(await root.content.has(a.digest));
});

test.run();
