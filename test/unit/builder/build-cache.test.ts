import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCacheRoots, openBuildCache, pruneBuildCache, slotId, sweepBuildCacheInputs, type CacheRecord } from '../../../src/cache/build-cache.js';

function record(n: number, size: number): CacheRecord {
  const hex = String(n).padStart(64, '0');
  return {
    key: `sha256:${hex}`,
    created: new Date(0).toISOString(),
    inputs: { op: { kind: 'RUN', text: `RUN ${n}` }, parent: '' },
    result: {
      chainId: `sha256:${hex.replace(/0/g, 'c')}`,
      snapshot: `snap-${n}`,
      layer: { diffId: `sha256:${hex.replace(/0/g, 'd')}`, size, blobs: { gzip: { mediaType: 'x', digest: `sha256:${hex.replace(/0/g, 'b')}`, size } } },
    },
  };
}

test('records survive reopening the index and slots find the latest record', async () => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-bc-'));
  try {
    const a = await openBuildCache(root);
    await a.put(record(1, 10));
    await a.setSlots([slotId('Dockerfile', '0', '1')], record(1, 10).key);
    const b = await openBuildCache(root);
    assert.equal((await b.get(record(1, 10).key))?.result, record(1, 10).result);
    assert.equal((await b.inputsOf(record(1, 10).key))?.op, { kind: 'RUN', text: 'RUN 1' });
    assert.equal((await b.fromSlots(['missing', slotId('Dockerfile', '0', '1')]))?.inputs.op, { kind: 'RUN', text: 'RUN 1' });
    assert.is(await b.get(record(2, 10).key), undefined);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('setting a slot to the key it names already leaves its file alone; a new key replaces it', async () => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-bc-'));
  try {
    const c = await openBuildCache(root);
    await c.put(record(1, 10));
    await c.put(record(2, 10));
    const slot = slotId('Dockerfile', '0', '1');
    await c.setSlots([slot], record(1, 10).key);
    const file = join(root, 'build-cache', 'slots', slot);
    const first = await stat(file);
    await c.setSlots([slot], record(1, 10).key);
    assert.is((await stat(file)).ino, first.ino, 'unchanged slot not rewritten');
    await c.setSlots([slot], record(2, 10).key);
    assert.is.not((await stat(file)).ino, first.ino);
    assert.equal((await c.fromSlots([slot]))?.key, record(2, 10).key);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('a record is a prunable GC root file naming its blobs, and deleting that file makes a miss', async () => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-bc-'));
  try {
    const c = await openBuildCache(root);
    await c.put(record(1, 10));
    const file = join(root, 'gc-roots', `build-cache-${record(1, 10).key.slice(7)}.json`);
    const body = JSON.parse(await readFile(file, 'utf8'));
    assert.equal(body.digests, [record(1, 10).result.layer!.blobs.gzip!.digest]);
    assert.is(body.prunable, true);
    assert.is(body.kind, 'build-cache');
    await rm(file);
    assert.is(await c.get(record(1, 10).key), undefined);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('buildCacheRoots() lists the blobs and snapshots records keep alive', async () => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-bc-'));
  try {
    const c = await openBuildCache(root);
    await c.put(record(1, 10));
    const roots = await buildCacheRoots(root);
    assert.ok(roots.snapshots.has('snap-1'));
    assert.ok(roots.blobs.has(record(1, 10).result.layer!.blobs.gzip!.digest));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('pruneBuildCache() drops least recently used records first down to keepBytes', async () => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-bc-'));
  try {
    const c = await openBuildCache(root);
    for (const n of [1, 2, 3]) await c.put(record(n, 100));
    const setUsed = async (n: number, t: number) => {
      const p = join(root, 'gc-roots', `build-cache-${record(n, 100).key.slice(7)}.json`);
      await writeFile(p, JSON.stringify({ ...JSON.parse(await readFile(p, 'utf8')), lastUsed: new Date(t).toISOString() }));
    };
    await setUsed(1, 1000_000);
    await setUsed(2, 3000_000);
    await setUsed(3, 2000_000);
    const removed = await pruneBuildCache(root, { keepBytes: 200 });
    assert.equal(
      removed.map((r) => r.key),
      [record(1, 100).key],
    );
    await c.get(record(3, 100).key); // a hit makes it the most recent
    const removed2 = await pruneBuildCache(root, { keepBytes: 100 });
    assert.equal(
      removed2.map((r) => r.key),
      [record(2, 100).key],
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("sweepBuildCacheInputs() removes dropped records' inputs at once, old orphans, and keeps live and young ones", async () => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-bc-'));
  try {
    const c = await openBuildCache(root);
    for (const n of [1, 2, 3, 4]) await c.put(record(n, 10));
    const hex = (n: number) => String(n).padStart(64, '0');
    const inputs = join(root, 'build-cache', 'inputs');
    // As prune drops records: their GC root files go, their inputs stay behind.
    for (const n of [2, 3, 4]) await rm(join(root, 'gc-roots', `build-cache-${hex(n)}.json`));
    const old = new Date(Date.now() - 3600_000);
    await utimes(join(inputs, `${hex(3)}.json`), old, old); // an orphan from an earlier prune
    assert.is(await sweepBuildCacheInputs(root, { removedRoots: [`build-cache-${hex(2)}.json`, 'digest-pull-x.json'], dryRun: true }), 2);
    assert.is((await readdir(inputs)).length, 4, 'a dry run removes nothing');
    assert.is(await sweepBuildCacheInputs(root, { removedRoots: [`build-cache-${hex(2)}.json`] }), 2);
    // 1 is live; 4 was dropped by nobody we know of and is young: a build may be between writing it and its record.
    assert.equal((await readdir(inputs)).sort(), [`${hex(1)}.json`, `${hex(4)}.json`]);
    assert.ok(await c.inputsOf(record(1, 10).key));
    assert.is(await sweepBuildCacheInputs(root, { minAgeMs: 0 }), 1);
    assert.equal(await readdir(inputs), [`${hex(1)}.json`]);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test.run();
