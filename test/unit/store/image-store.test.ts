import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile } from 'node:fs/promises';
import { sha256Digest, shortId } from '../../../src/image/digest.js';
import { MediaType } from '../../../src/image/types.js';
import { rejects } from '../../helpers/assert.js';
import { cleanupRoots, configFor, tempRoot } from './store-fixtures.js';

test.after(cleanupRoots);

async function withLayer(root: Awaited<ReturnType<typeof tempRoot>>, text: string) {
  const blob = await root.content.writeBuffer(text);
  return { layer: { mediaType: MediaType.OciLayer, digest: blob.digest, size: blob.size }, diffId: blob.digest };
}

test('writeImage() stores canonical config and manifest and tags by full reference', async () => {
  const root = await tempRoot();
  const { layer, diffId } = await withLayer(root, 'layer-1');
  const w = await root.images.writeImage({ config: configFor([diffId]), layers: [layer], tags: ['app', '127.0.0.1:5000/team/app:1.2'] });
  const rec = await root.images.resolve('app:latest');
  assert.is(rec.id, w.configDigest);
  assert.is(rec.manifestDigest, w.manifestDigest);
  assert.equal(rec.refs.sort(), ['127.0.0.1:5000/team/app:1.2', 'docker.io/library/app:latest']);
  assert.is(rec.mediaType, MediaType.OciManifest);
  const idx = JSON.parse(await readFile(root.paths.index, 'utf8'));
  assert.ok(idx.manifests.some((m: any) => m.annotations['org.opencontainers.image.ref.name'] === 'docker.io/library/app:latest'));
  const cfgText = (await root.content.readBuffer(w.configDigest)).toString();
  assert.not.match(cfgText, /\s/, 'canonical JSON has no whitespace');
});

test('resolve() accepts a reference, an ID, an ID prefix and name@digest', async () => {
  const root = await tempRoot();
  const { layer, diffId } = await withLayer(root, 'layer-2');
  const w = await root.images.writeImage({ config: configFor([diffId]), layers: [layer], tags: ['busybox:1'] });
  for (const q of [
    'busybox:1',
    'docker.io/library/busybox:1',
    w.configDigest,
    shortId(w.configDigest),
    w.configDigest.slice(7, 20),
    `busybox@${w.manifestDigest}`,
  ]) {
    assert.is((await root.images.resolve(q)).id, w.configDigest, q);
  }
  await rejects(() => root.images.resolve('busybox:2'), 'IMAGE_NOT_FOUND', /busybox:2/);
  await rejects(() => root.images.resolve('Bad Ref'), 'IMAGE_NOT_FOUND');
});

test('docker format writes schema2 media types', async () => {
  const root = await tempRoot();
  const { layer, diffId } = await withLayer(root, 'layer-3');
  await root.images.writeImage({ config: configFor([diffId]), layers: [layer], format: 'docker', tags: ['d'] });
  const rec = await root.images.resolve('d');
  assert.is(rec.mediaType, MediaType.DockerManifest);
  assert.is(rec.manifest.config.mediaType, MediaType.DockerConfig);
  assert.is(rec.manifest.layers[0]!.mediaType, MediaType.DockerLayer);
});

test('moving a tag leaves the old image dangling; untag removes a tag', async () => {
  const root = await tempRoot();
  const a = await withLayer(root, 'a');
  const b = await withLayer(root, 'b');
  const one = await root.images.writeImage({ config: configFor([a.diffId]), layers: [a.layer], tags: ['x'] });
  const two = await root.images.writeImage({ config: configFor([b.diffId]), layers: [b.layer], tags: ['x'] });
  const list = await root.images.list();
  assert.is(list.length, 2);
  assert.equal(list.find((r) => r.id === one.configDigest)!.refs, []);
  assert.equal(list.find((r) => r.id === two.configDigest)!.refs, ['docker.io/library/x:latest']);
  await root.images.untag('x');
  await rejects(() => root.images.untag('x'), 'IMAGE_NOT_FOUND');
  await rejects(() => root.images.resolve('x'), 'IMAGE_NOT_FOUND');
});

test('tag() refuses a manifest that is not stored and a digest reference', async () => {
  const root = await tempRoot();
  const d = { mediaType: MediaType.OciManifest, digest: sha256Digest('missing'), size: 7 };
  await rejects(() => root.images.tag('y', d), 'BLOB_NOT_FOUND');
  await rejects(() => root.images.tag(`y@${d.digest}`, d), 'INVALID_REFERENCE');
});

test('writeImage() refuses layers that are not in the store', async () => {
  const root = await tempRoot();
  const d = sha256Digest('absent');
  await rejects(() => root.images.writeImage({ config: configFor([d]), layers: [{ mediaType: MediaType.OciLayer, digest: d, size: 1 }] }), 'BLOB_NOT_FOUND');
});

test('concurrent tag() calls lose no update', async () => {
  const root = await tempRoot();
  const { layer, diffId } = await withLayer(root, 'c');
  const w = await root.images.writeImage({ config: configFor([diffId]), layers: [layer], tags: ['base'] });
  await Promise.all(Array.from({ length: 20 }, (_, i) => root.images.tag(`t${i}`, w.manifest)));
  const rec = await root.images.resolve('base');
  assert.is(rec.refs.length, 21);
});

test.run();
