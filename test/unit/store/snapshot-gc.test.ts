import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, linkSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openBuildCache } from '../../../src/cache/build-cache.js';
import { diskUsage } from '../../../src/cache/disk-usage.js';
import { collectGarbage } from '../../../src/cache/gc.js';
import { createLease } from '../../../src/cache/lease.js';
import type { StoreRoot } from '../../../src/cache/root.js';
import { lowerDirsOf } from '../../../src/cache/snapshot-keep.js';
import { unreachableSnapshots } from '../../../src/cache/snapshot-gc.js';
import { exclusiveBytes, measureDirs } from '../../../src/cache/snapshot-usage.js';
import { chainIds, createSnapshotter } from '../../../src/cache/snapshotter.js';
import type { SnapshotInfo } from '../../../src/cache/types.js';
import { writeLayer } from '../../../src/exporter/layer-writer.js';
import { packTar, type TarInput } from '../../../src/tar/writer.js';
import { cleanupRoots, configFor, tempDir, tempRoot } from './store-fixtures.js';

test.after(cleanupRoots);

const file = (name: string, text: string): TarInput => ({
  name,
  type: 'file',
  mode: 0o644,
  uid: 0,
  gid: 0,
  size: Buffer.byteLength(text),
  mtime: 0,
  data: Buffer.from(text),
});

/** An image of one layer per text (a file `f<i>` holding it), tagged with `tags`; unpacked when `unpack`. */
async function image(root: StoreRoot, texts: string[], tags: string[], unpack = true) {
  const layers = [];
  for (const [i, t] of texts.entries()) layers.push(await writeLayer(root.content, packTar([file(`f${i}`, t)])));
  const diffIds = layers.map((l) => l.diffId);
  const w = await root.images.writeImage({ config: configFor(diffIds), layers: layers.map((l) => l.descriptor), tags });
  const snap = createSnapshotter({ root: root.paths.snapshots, content: root.content });
  if (unpack) await snap.ensureImage(layers.map((l) => ({ descriptor: l.descriptor, diffId: l.diffId })));
  return { ...w, chain: chainIds(diffIds), snap };
}

const keys = async (root: StoreRoot) => (await createSnapshotter({ root: root.paths.snapshots, content: root.content }).list()).map((s) => s.key).sort();
const gc = (root: StoreRoot, o: Parameters<typeof collectGarbage>[1] = {}) => collectGarbage(root, { removeDangling: true, snapshotGraceMs: 0, ...o });

test('exclusiveBytes() counts a hard-linked file only when every link is removed', async () => {
  const d = await tempDir();
  for (const n of ['a', 'b']) mkdirSync(join(d, n, 'sub'), { recursive: true });
  writeFileSync(join(d, 'a', 'own'), 'x'.repeat(100));
  writeFileSync(join(d, 'a', 'sub', 'shared'), 'y'.repeat(1000));
  linkSync(join(d, 'a', 'sub', 'shared'), join(d, 'b', 'sub', 'shared'));
  writeFileSync(join(d, 'b', 'own'), 'z'.repeat(10));
  const m = await measureDirs([join(d, 'a'), join(d, 'b'), join(d, 'missing')]);
  assert.is(m.bytes, 1110, 'the shared file counts once');
  assert.is(m.files, 3);
  assert.is(exclusiveBytes(m, [join(d, 'a')]), 100);
  assert.is(exclusiveBytes(m, [join(d, 'a'), join(d, 'b')]), 1110);
  linkSync(join(d, 'b', 'own'), join(d, 'elsewhere'));
  const m2 = await measureDirs([join(d, 'b')]);
  assert.is(exclusiveBytes(m2, [join(d, 'b')]), 0, 'a link outside the measured dirs keeps both files');
});

test('lowerDirsOf() reads overlay lowerdirs, resolving relative ones from the mount cwd', () => {
  assert.equal(
    lowerDirsOf([
      { type: 'overlay', source: 'overlay', options: ['lowerdir=/s/d/a:/s/d/b', 'upperdir=/c/u', 'workdir=/c/w'] },
      { type: 'overlay', source: 'overlay', cwd: '/s/d', options: ['lowerdir=c:d'] },
      { type: 'bind', source: '/x', options: ['lowerdir=/not/overlay'] },
    ]),
    ['/s/d/a', '/s/d/b', '/s/d/c', '/s/d/d'],
  );
});

test('unreachableSnapshots() spares kept chains, active chains and flattened bottoms of live cuts', () => {
  const s = (key: string, parent?: string, kind: SnapshotInfo['kind'] = 'committed'): SnapshotInfo => ({ key, parent, kind, dir: `/d/${key}` });
  const snaps = [s('a'), s('b', 'a'), s('c', 'b'), s('x'), s('y', 'x'), s('run', 'y', 'active'), s('z'), s('flat:a'), s('flat:z')];
  assert.equal(
    unreachableSnapshots(snaps, ['b'])
      .map((x) => x.key)
      .sort(),
    ['c', 'flat:z', 'z'],
  );
  assert.equal(
    unreachableSnapshots(snaps, ['b'], ['c'])
      .map((x) => x.key)
      .sort(),
    ['flat:z', 'z'],
  );
});

test('prune removes the snapshots of a removed image and keeps a tagged image’s chain', async () => {
  const root = await tempRoot();
  const kept = await image(root, ['base', 'kept'], ['kept']);
  const gone = await image(root, ['gone1', 'gone2'], ['gone']);
  const goneDirs = await Promise.all(gone.chain.map((k) => gone.snap.dirOf(k)));
  await root.images.untag('gone');
  const r = await gc(root);
  assert.equal(r.removedSnapshots.sort(), [...gone.chain].sort());
  assert.is(r.snapshotBytes, 'gone1'.length + 'gone2'.length);
  assert.ok(r.reclaimedBytes > r.snapshotBytes, 'the blobs count too');
  assert.equal(await keys(root), [...kept.chain].sort());
  for (const d of goneDirs) assert.not.ok(existsSync(d), `${d} is deleted`);
  assert.is(readFileSync(join(await kept.snap.dirOf(kept.chain[1]!), 'f1'), 'utf8'), 'kept');
});

test('a dry run reports the snapshots and bytes it would free and removes nothing', async () => {
  const root = await tempRoot();
  const gone = await image(root, ['one', 'two'], ['gone']);
  await root.images.untag('gone');
  const before = await keys(root);
  const r = await gc(root, { dryRun: true });
  assert.equal(r.removedSnapshots.sort(), [...gone.chain].sort());
  assert.is(r.snapshotBytes, 6);
  assert.equal(await keys(root), before);
  assert.is((await gc(root)).snapshotBytes, 6, 'the real run frees what the dry run announced');
});

test('snapshots younger than the grace window stay', async () => {
  const root = await tempRoot();
  await image(root, ['young'], ['young']);
  await root.images.untag('young');
  const r = await gc(root, { snapshotGraceMs: 60_000 });
  assert.equal(r.removedSnapshots, []);
  assert.is((await keys(root)).length, 1);
});

test('a build-cache record keeps its snapshot until prune --all drops the record', async () => {
  const root = await tempRoot();
  const base = await image(root, ['base'], ['base']);
  await base.snap.prepare('step-active', base.chain[0]);
  writeFileSync(join(await base.snap.dirOf('step-active'), 'made'), 'by a step');
  await base.snap.commit('step-1', 'step-active');
  const cache = await openBuildCache(root.root);
  await cache.put({
    key: `sha256:${'1'.repeat(64)}`,
    created: new Date().toISOString(),
    inputs: { op: {}, parent: '' },
    result: { chainId: 'c', snapshot: 'step-1' },
  });
  await root.images.untag('base');
  const plain = await gc(root);
  assert.equal(plain.removedSnapshots, [], 'the record keeps its snapshot and the base below it');
  const dry = await gc(root, { all: true, dryRun: true });
  assert.equal(dry.removedSnapshots.sort(), ['step-1', base.chain[0]!].sort());
  assert.is(dry.snapshotBytes, 'base'.length + 'by a step'.length);
  const all = await gc(root, { all: true });
  assert.equal(all.removedSnapshots.sort(), ['step-1', base.chain[0]!].sort());
  assert.equal(await keys(root), []);
});

test('a lease (or an in-process root) on an image being pulled keeps its snapshots before it is tagged', async () => {
  const root = await tempRoot();
  const pulled = await image(root, ['pulled'], []);
  await root.images.removeEntries(pulled.manifestDigest);
  const lease = createLease({ leases: root.paths.leases, locks: root.paths.locks });
  await lease.add(pulled.manifestDigest);
  try {
    assert.equal((await gc(root)).removedSnapshots, []);
  } finally {
    await lease.release();
  }
  assert.equal((await gc(root, { extraRoots: [() => [pulled.manifestDigest]] })).removedSnapshots, []);
  assert.equal((await gc(root)).removedSnapshots, [pulled.chain[0]!]);
});

test('a container’s rootfs lowers stay even when its image is gone', async () => {
  const root = await tempRoot();
  const img = await image(root, ['ran'], ['ran']);
  const mounts = await img.snap.rootfsMounts(img.chain[0], {
    upper: join(root.root, 'containers/c1/fs/upper'),
    work: join(root.root, 'containers/c1/fs/work'),
  });
  mkdirSync(join(root.root, 'containers/c1'), { recursive: true });
  writeFileSync(
    join(root.root, 'containers/c1/state.json'),
    JSON.stringify({ id: 'c1', name: 'c1', created: new Date().toISOString(), spec: { rootfs: mounts } }),
  );
  await root.images.untag('ran');
  assert.equal((await gc(root)).removedSnapshots, []);
  assert.equal(await keys(root), [img.chain[0]!]);
});

test('prune first cleans up active snapshots of dead processes, freeing their parents', async () => {
  const root = await tempRoot();
  const img = await image(root, ['under'], ['under']);
  await img.snap.prepare('dead-step', img.chain[0]);
  const metaDir = join(root.paths.snapshots, 'm');
  for (const name of (await import('node:fs')).readdirSync(metaDir)) {
    const m = JSON.parse(readFileSync(join(metaDir, name), 'utf8'));
    if (m.key === 'dead-step') writeFileSync(join(metaDir, name), JSON.stringify({ ...m, owner: '999999999.1' }));
  }
  await root.images.untag('under');
  const r = await gc(root);
  assert.equal(r.removedSnapshots, [img.chain[0]!]);
  assert.equal(await keys(root), []);
});

test('rmi-style collections (candidates) leave snapshots alone', async () => {
  const root = await tempRoot();
  const img = await image(root, ['solo'], ['solo']);
  await root.images.untag('solo');
  const r = await collectGarbage(root, { candidates: [img.manifestDigest], snapshotGraceMs: 0 });
  assert.equal(r.removedSnapshots, []);
  assert.is((await keys(root)).length, 1);
});

test('diskUsage() counts snapshots and what prune would free from them', async () => {
  const root = await tempRoot();
  await image(root, ['kept-bytes'], ['kept']);
  await image(root, ['gone-bytes!'], ['gone']);
  await root.images.untag('gone');
  const row = (await diskUsage(root)).find((r) => r.kind === 'snapshots')!;
  assert.is(row.count, 2);
  assert.is(row.bytes, 'kept-bytes'.length + 'gone-bytes!'.length);
  assert.is(row.reclaimable, 'gone-bytes!'.length);
  await gc(root);
  const after = (await diskUsage(root)).find((r) => r.kind === 'snapshots')!;
  assert.equal([after.count, after.bytes, after.reclaimable], [1, 'kept-bytes'.length, 0]);
});

test.run();
