/**
 * `kiln prune` frees unpacked snapshots as a user sees it: an image removed with `kiln rmi` loses its snapshot
 * directories, a tagged image keeps its own (a shared base included), a build's step snapshots live as long as
 * its build-cache records, and `kiln du` shows the snapshot bytes shrink.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBusyboxImage } from '../../../src/cache/busybox-image.js';
import type { ImageRecord } from '../../../src/cache/image-store.js';
import { openRoot, type StoreRoot } from '../../../src/cache/root.js';
import { createSnapshotter } from '../../../src/cache/snapshotter.js';
import { writeLayer } from '../../../src/exporter/layer-writer.js';
import { packTar } from '../../../src/tar/writer.js';
import { kiln } from '../../helpers/kiln-cli.js';

let dir = '';
let rootDir = '';
let store: StoreRoot;
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-prune-snap-'));
  rootDir = join(dir, 'root');
  store = await openRoot(rootDir);
});
test.after(async () => {
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

const BIG = 3 << 20;
const snapshotter = () => createSnapshotter({ root: store.paths.snapshots, content: store.content });
const unpack = (img: ImageRecord) =>
  snapshotter().ensureImage(img.manifest.layers.map((descriptor, i) => ({ descriptor, diffId: img.config.rootfs.diff_ids[i]! })));

async function duSnapshots(): Promise<{ Count: number; Size: number; Reclaimable: number }> {
  const r = await kiln(['du', '--format', 'json'], { root: rootDir });
  assert.is(r.code, 0, r.stderr);
  const row = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .find((x) => x.Type === 'snapshots');
  assert.ok(row, r.stdout);
  return row;
}

test('kiln prune removes the snapshots of an image removed with kiln rmi and keeps a tagged image’s', async () => {
  const { image: busybox } = await ensureBusyboxImage(store);
  // "extra" = busybox + one layer with a 3 MiB file: it shares busybox's base snapshot.
  const layer = await writeLayer(
    store.content,
    packTar([{ name: 'big', type: 'file', mode: 0o644, uid: 0, gid: 0, size: BIG, mtime: 0, data: Buffer.alloc(BIG, 7) }]),
  );
  await store.images.writeImage({
    config: { ...busybox.config, rootfs: { type: 'layers', diff_ids: [...busybox.config.rootfs.diff_ids, layer.diffId] } },
    layers: [...busybox.manifest.layers, layer.descriptor],
    tags: ['extra:1'],
  });
  const extra = await store.images.resolve('extra:1');
  const base = (await unpack(busybox))!;
  const top = (await unpack(extra))!;
  const baseDir = await snapshotter().dirOf(base);
  const topDir = await snapshotter().dirOf(top);
  assert.ok(existsSync(join(topDir, 'big')));

  const before = await duSnapshots();
  assert.is(before.Count, 2);
  assert.ok(before.Size >= BIG, `snapshots hold the unpacked layers (${before.Size} bytes)`);
  assert.is(before.Reclaimable, 0, 'both images are tagged');
  const table = await kiln(['du'], { root: rootDir });
  assert.match(table.stdout, /^Snapshots \(unpacked\)\s+2\s+\d/m);

  const rmi = await kiln(['rmi', 'extra:1'], { root: rootDir });
  assert.is(rmi.code, 0, rmi.stderr);
  assert.match(rmi.stdout, /Untagged: extra:1/);
  assert.ok(existsSync(topDir), 'rmi leaves unpacking to prune');
  assert.ok((await duSnapshots()).Reclaimable >= BIG, 'du announces what prune will free');

  const prune = await kiln(['prune', '--min-age', '0s'], { root: rootDir });
  assert.is(prune.code, 0, prune.stderr);
  assert.match(prune.stdout, /^Deleted snapshots: 1 \(3(\.\d+)?MB\)$/m);
  assert.match(prune.stdout, /^Total reclaimed space: [\d.]+MB$/m);
  assert.not.ok(existsSync(topDir), 'the removed image’s snapshot directory is gone');
  assert.ok(existsSync(join(baseDir, 'bin', 'busybox')), 'busybox (still tagged, and the shared base) stays unpacked');

  const after = await duSnapshots();
  assert.is(after.Count, 1);
  assert.is(before.Size - after.Size, BIG);
  const again = await kiln(['prune', '--min-age', '0s'], { root: rootDir });
  assert.match(again.stdout, /^Total reclaimed space: 0B$/m);
  assert.ok(existsSync(baseDir));
});

test('a build’s step snapshots survive kiln prune while cached and go with prune --all', async () => {
  const ctx = join(dir, 'ctx');
  await mkdir(ctx, { recursive: true });
  await writeFile(join(ctx, 'Dockerfile'), 'FROM busybox\nRUN head -c 2000000 /dev/zero > /zeros\n');
  const b = await kiln(['build', '-t', 'zeros', '--progress', 'plain', ctx], { root: rootDir });
  assert.is(b.code, 0, b.stderr);
  const keysBefore = (await snapshotter().list()).map((s) => s.key);
  assert.ok(keysBefore.length >= 2, `the step committed a snapshot: ${keysBefore.join(', ')}`);
  assert.is((await kiln(['rmi', 'zeros'], { root: rootDir })).code, 0);

  const plain = await kiln(['prune', '--min-age', '0s'], { root: rootDir });
  assert.is(plain.code, 0, plain.stderr);
  assert.not.match(plain.stdout, /Deleted snapshots/);
  assert.equal((await snapshotter().list()).map((s) => s.key).sort(), [...keysBefore].sort(), 'the build cache keeps them');

  const all = await kiln(['prune', '--all', '--min-age', '0s'], { root: rootDir });
  assert.is(all.code, 0, all.stderr);
  assert.match(all.stdout, /^Deleted build cache entries: \d+$/m);
  assert.match(all.stdout, /^Deleted snapshots: \d+ \(2(\.\d+)?MB\)$/m);
  const left = (await snapshotter().list()).map((s) => s.key);
  const busybox = await store.images.resolve('busybox');
  assert.equal(left, [busybox.config.rootfs.diff_ids[0]!], 'only the tagged busybox stays unpacked');
});

test('a running container keeps its snapshots through rmi -f and prune; they go once it is removed', async () => {
  const { image: busybox } = await ensureBusyboxImage(store, 'busybox:ctr');
  const key = busybox.config.rootfs.diff_ids[0]!;
  const run = await kiln(['run', '-d', '--name', 'h9keep', 'busybox:ctr', 'sleep', '120'], { root: rootDir });
  assert.is(run.code, 0, run.stderr);
  try {
    // Both tags (busybox:latest from the first test and busybox:ctr) name the same image.
    assert.is((await kiln(['rmi', '-f', 'busybox:latest', 'busybox:ctr'], { root: rootDir })).code, 0);
    const dirBefore = await snapshotter().dirOf(key);
    const prune = await kiln(['prune', '--min-age', '0s'], { root: rootDir });
    assert.is(prune.code, 0, prune.stderr);
    assert.ok(existsSync(join(dirBefore, 'bin', 'busybox')), 'the container’s lower dir stays');
    const exec = await kiln(['exec', 'h9keep', 'cat', '/etc/group'], { root: rootDir });
    assert.is(exec.code, 0, exec.stderr);
    assert.match(exec.stdout, /^root:/);
  } finally {
    await kiln(['rm', '-f', 'h9keep'], { root: rootDir });
  }
  await kiln(['prune', '--min-age', '0s'], { root: rootDir });
  assert.equal(await snapshotter().list(), [], 'with the container gone nothing needs them');
});

test.run();
