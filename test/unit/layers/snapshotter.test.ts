import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createContentStore } from '../../../src/cache/content-store.js';
import { chainIds, createSnapshotter } from '../../../src/cache/snapshotter.js';
import { chainMounts, MOUNT_DATA_LIMIT } from '../../../src/cache/snapshot-mounts.js';
import type { ContentStore } from '../../../src/cache/types.js';
import { writeLayer } from '../../../src/exporter/layer-writer.js';
import { packTar, type TarInput } from '../../../src/tar/writer.js';
import { chainId } from '../../../src/graph/cache-key.js';
import { rejects } from '../../helpers/assert.js';
import { isRoot, skipIf } from '../../helpers/skip.js';

let dir: string;
test.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-snap-'));
});
test.after.each(() => rmSync(dir, { recursive: true, force: true }));

const f = (name: string, text: string): TarInput => ({
  name,
  type: 'file',
  mode: 0o644,
  uid: 0,
  gid: 0,
  size: Buffer.byteLength(text),
  mtime: 0,
  data: Buffer.from(text),
});
const wh = (name: string): TarInput => ({ name, type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtime: 0 });

/** Stores one gzip layer per entry list; returns what an image manifest+config would give ensureImage. */
async function storeLayers(content: ContentStore, layers: TarInput[][]) {
  const out = [];
  for (const entries of layers) {
    const l = await writeLayer(content, packTar(entries));
    out.push({ descriptor: l.descriptor, diffId: l.diffId });
  }
  return out;
}

/** Counts blob reads: proves a layer is unpacked once. */
function counting(content: ContentStore) {
  const counter = { reads: 0 };
  return {
    counter,
    content: {
      ...content,
      read: (d: string, o?: any) => {
        counter.reads++;
        return content.read(d, o);
      },
    } as ContentStore,
  };
}

test('chainIds agree with the builder’s chainId for every prefix', () => {
  const ids = ['sha256:' + 'a'.repeat(64), 'sha256:' + 'b'.repeat(64), 'sha256:' + 'c'.repeat(64)];
  const chain = chainIds(ids);
  assert.is(chain[0], ids[0]);
  for (let i = 0; i < ids.length; i++) assert.is(chain[i], chainId(ids.slice(0, i + 1)));
});

test('ensureImage unpacks each layer once, keyed by chain ID, and lowerDirs lists them top first', async () => {
  const store = createContentStore(join(dir, 'oci'));
  const layers = await storeLayers(store, [
    [f('a', '1'), f('shared', 'base')],
    [f('b', '2'), f('shared', 'top')],
  ]);
  const { content, counter } = counting(store);
  const snap = createSnapshotter({ root: join(dir, 'snapshots'), content });
  const top = await snap.ensureImage(layers);
  assert.is(top, chainIds(layers.map((l) => l.diffId))[1]);
  assert.is(counter.reads, 2);
  assert.is(await snap.ensureImage(layers), top);
  assert.is(counter.reads, 2, 'second ensureImage unpacks nothing');
  const dirs = await snap.lowerDirs(top!);
  assert.is(dirs.length, 2);
  assert.is(readFileSync(join(dirs[0]!, 'shared'), 'utf8'), 'top');
  assert.is(readFileSync(join(dirs[1]!, 'shared'), 'utf8'), 'base');
  assert.ok(
    dirs.every((d) => /\/d\/[0-9a-f]{12}$/.test(d)),
    'short directory names',
  );
});

test('two snapshotters (two processes) ensuring the same image at once share one directory per layer', async () => {
  const store = createContentStore(join(dir, 'oci'));
  const layers = await storeLayers(
    store,
    Array.from({ length: 6 }, (_, i) => [f(`f${i}`, 'x'.repeat(i * 1000))]),
  );
  const a = createSnapshotter({ root: join(dir, 'snapshots'), content: store });
  const b = createSnapshotter({ root: join(dir, 'snapshots'), content: store });
  const [ka, kb] = await Promise.all([a.ensureImage(layers), b.ensureImage(layers)]);
  assert.is(ka, kb);
  assert.is(readdirSync(join(dir, 'snapshots/d')).length, 6);
  assert.equal(readdirSync(join(dir, 'snapshots/tmp')), []);
  assert.equal(await a.lowerDirs(ka!), await b.lowerDirs(kb!));
});

test('unpackLayers gives an image’s root filesystem as one tree, whiteouts applied', async () => {
  const { unpackLayers } = await import('../../../src/cache/apply-layer.js');
  const store = createContentStore(join(dir, 'oci'));
  const layers = await storeLayers(store, [
    [f('a', '1'), f('d/x', 'x'), f('b', 'old')],
    [wh('.wh.a'), wh('d/.wh..wh..opq'), f('d/y', 'y'), f('b', 'new')],
  ]);
  const out = join(dir, 'rootfs');
  mkdirSync(out);
  await unpackLayers(store, layers, out);
  assert.equal(readdirSync(out).sort(), ['b', 'd']);
  assert.equal(readdirSync(join(out, 'd')), ['y']);
  assert.is(readFileSync(join(out, 'b'), 'utf8'), 'new');
});

test('a layer whose content does not match its diff ID is refused and leaves nothing behind', async () => {
  const store = createContentStore(join(dir, 'oci'));
  const [good] = await storeLayers(store, [[f('a', '1')]]);
  const snap = createSnapshotter({ root: join(dir, 'snapshots'), content: store });
  await rejects(() => snap.ensureImage([{ descriptor: good!.descriptor, diffId: 'sha256:' + '0'.repeat(64) }]), 'DIGEST_MISMATCH');
  assert.equal(readdirSync(join(dir, 'snapshots/d')), []);
  assert.equal(readdirSync(join(dir, 'snapshots/tmp')), []);
  assert.equal(await snap.list(), []);
});

test('prepare gives a bind mount on scratch and an overlay on a parent; commit makes it a lower', async () => {
  const store = createContentStore(join(dir, 'oci'));
  const snap = createSnapshotter({ root: join(dir, 'snapshots'), content: store });
  const m0 = await snap.prepare('step0', undefined);
  assert.is(m0.length, 1);
  assert.is(m0[0]!.type, 'bind');
  const upper0 = m0[0]!.source;
  writeFileSync(join(upper0, 'hello'), 'hi');
  assert.is((await snap.stat('step0'))!.kind, 'active');
  await snap.commit('layer0', 'step0');
  assert.is(await snap.stat('step0'), undefined);
  assert.is((await snap.stat('layer0'))!.dir, upper0, 'committing keeps the directory');

  const m1 = await snap.prepare('step1', 'layer0');
  assert.is(m1[0]!.type, 'overlay');
  const opts = Object.fromEntries(m1[0]!.options.map((o) => o.split('=') as [string, string]));
  assert.is(opts.lowerdir, upper0);
  assert.ok(opts.upperdir && opts.workdir && opts.index === 'off' && opts.redirect_dir === 'off');
  await rejects(() => snap.prepare('step1', 'layer0'), 'ALREADY_EXISTS');
  await rejects(() => snap.prepare('step2', 'nope'), 'NOT_FOUND');
  await rejects(() => snap.remove('layer0'), 'PRECONDITION', /parent of step1/);
  await snap.remove('step1');
  assert.not.ok(existsSync(opts.upperdir!));
  const view = await snap.view('v', 'layer0');
  assert.equal(view, [{ type: 'bind', source: upper0, options: ['rbind', 'ro'] }]);
});

test('a stage of steps prepares each on the last one with the whole chain as lowers, and sees a chain rebuilt after a removal', async () => {
  const snap = createSnapshotter({ root: join(dir, 'snapshots'), content: createContentStore(join(dir, 'oci')) });
  const dirs: string[] = [];
  let parent: string | undefined;
  for (let i = 0; i < 5; i++) {
    const m = await snap.prepare(`step${i}`, parent);
    const lowers = m[0]!.type === 'overlay' ? Object.fromEntries(m[0]!.options.map((o) => o.split('=') as [string, string])).lowerdir!.split(':') : [];
    assert.equal(lowers, [...dirs].reverse(), `step ${i} sees every earlier step, top first`);
    dirs.push((await snap.stat(`step${i}`))!.dir);
    await snap.commit(`layer${i}`, `step${i}`);
    parent = `layer${i}`;
  }
  // Remove the top two and build them again: the new directories (new ids) are what a next step stacks on.
  await snap.remove('layer4');
  await snap.remove('layer3');
  for (const i of [3, 4]) {
    await snap.prepare(`again${i}`, `layer${i - 1}`);
    dirs[i] = (await snap.stat(`again${i}`))!.dir;
    await snap.commit(`layer${i}`, `again${i}`);
  }
  assert.equal(await snap.lowerDirs('layer4'), [...dirs].reverse());
  const m = await snap.prepare('top', 'layer4');
  assert.is(Object.fromEntries(m[0]!.options.map((o) => o.split('=') as [string, string])).lowerdir, [...dirs].reverse().join(':'));
  // A parent that is gone is refused, whatever was walked before.
  await snap.remove('top');
  await snap.remove('layer4');
  await rejects(() => snap.prepare('x', 'layer4'), 'NOT_FOUND');
});

test('committing a name that another process committed first keeps theirs and drops ours', async () => {
  const snap = createSnapshotter({ root: join(dir, 'snapshots'), content: createContentStore(join(dir, 'oci')) });
  const a = (await snap.prepare('a', undefined))[0]!.source;
  const b = (await snap.prepare('b', undefined))[0]!.source;
  await snap.commit('same', 'a');
  await snap.commit('same', 'b');
  assert.is((await snap.stat('same'))!.dir, a);
  assert.not.ok(existsSync(b));
});

test('deep stacks switch to relative lower names with a cwd, within the kernel limit', () => {
  const base = '/var/lib/kiln/snapshots/d';
  const lowers = Array.from({ length: 150 }, (_, i) => `${base}/${i.toString(16).padStart(12, '0')}`);
  const [m] = chainMounts({ lowers, upper: `${base}/upper0000000`, work: '/var/lib/kiln/snapshots/w/upper0000000' });
  assert.is(m!.cwd, base);
  assert.ok(m!.options.join(',').length <= MOUNT_DATA_LIMIT);
  assert.ok(m!.options[0]!.startsWith('lowerdir=000000000000:000000000001:'));
  const [shallow] = chainMounts({ lowers: lowers.slice(0, 5), upper: `${base}/u`, work: `${base}/w` });
  assert.is(shallow!.cwd, undefined);
  assert.ok(shallow!.options[0]!.startsWith(`lowerdir=${base}/`));
});

{
  const test = skipIf(!isRoot, 'needs root (overlay mounts)');
  test('chains deeper than one mount holds get their bottom flattened, whiteouts applied', async () => {
    const store = createContentStore(join(dir, 'oci'));
    const specs: TarInput[][] = [[f('gone', 'x'), f('kept', 'k')], [wh('.wh.gone')]];
    for (let i = 2; i < 320; i++) specs.push([f(`l${i}`, String(i))]);
    const layers = await storeLayers(store, specs);
    const snap = createSnapshotter({ root: join(dir, 'snapshots'), content: store });
    const top = await snap.ensureImage(layers);
    const [m] = await snap.prepare('deep', top);
    const lower = m!.options[0]!.slice('lowerdir='.length).split(':');
    assert.ok(lower.length < 320, `flattened to ${lower.length}`);
    assert.ok(m!.options.join(',').length <= MOUNT_DATA_LIMIT);
    const flat = join(m!.cwd!, lower[lower.length - 1]!);
    assert.ok(existsSync(join(flat, 'kept')));
    assert.not.ok(existsSync(join(flat, 'gone')), 'the whiteout deleted it while flattening');
    assert.ok(lstatSync(join(flat, 'l2')).isFile());
    assert.ok((await snap.list()).some((s) => s.key.startsWith('flat:')));
    const [own] = await snap.rootfsMounts(top, { upper: join(dir, 'c/upper'), work: join(dir, 'c/work') });
    assert.ok(own!.options.includes(`upperdir=${join(dir, 'c/upper')}`));
    assert.is(own!.options[0], m!.options[0], 'a caller-owned upper gets the same flattened lowers');
  });
}

test('prune keeps what is asked for, its ancestors and active snapshots’ chains, and removes the rest', async () => {
  const store = createContentStore(join(dir, 'oci'));
  const snap = createSnapshotter({ root: join(dir, 'snapshots'), content: store });
  const a = await storeLayers(store, [[f('a', '1')], [f('b', '2')]]);
  const b = await storeLayers(store, [[f('c', '3')], [f('d', '4')]]);
  const topA = (await snap.ensureImage(a))!;
  const topB = (await snap.ensureImage(b))!;
  const [base] = await storeLayers(store, [[f('e', '5')]]);
  const topC = (await snap.ensureImage([base!]))!;
  await snap.prepare('running', topC);
  assert.equal(await snap.prune([topA], { graceMs: 60_000 }), [], 'nothing young is pruned within the grace window');
  const removed = await snap.prune([topA]);
  assert.equal(removed.sort(), [topB, chainIds(b.map((l) => l.diffId))[0]!].sort());
  assert.is((await snap.lowerDirs(topA)).length, 2);
  assert.ok(await snap.stat(topC), 'the base of an active snapshot stays');
  assert.is(readdirSync(join(dir, 'snapshots/d')).length, 4, 'two layers of A, one of C, the active upper');
});

test('cleanup removes active snapshots of dead processes', async () => {
  const snap = createSnapshotter({ root: join(dir, 'snapshots'), content: createContentStore(join(dir, 'oci')) });
  await snap.prepare('mine', undefined);
  const metaDir = join(dir, 'snapshots/m');
  const name = readdirSync(metaDir)[0]!;
  const meta = JSON.parse(readFileSync(join(metaDir, name), 'utf8'));
  mkdirSync(join(dir, 'snapshots/d/deadbeef0000'));
  writeFileSync(
    join(metaDir, `${createHash('sha256').update('dead').digest('hex').slice(0, 40)}.json`),
    JSON.stringify({ ...meta, key: 'dead', id: 'deadbeef0000', owner: '999999999.1' }),
  );
  assert.is(await snap.cleanup(), 1);
  assert.ok(await snap.stat('mine'));
  assert.not.ok(existsSync(join(dir, 'snapshots/d/deadbeef0000')));
});

test.run();
