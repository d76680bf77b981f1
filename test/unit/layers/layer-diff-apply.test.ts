import { readFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, lstatSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { applyLayer } from '../../../src/cache/apply-layer.js';
import { createCompressStream } from '../../../src/layers/compression.js';
import { layerTar } from '../../../src/layers/layer-diff.js';
import { getXattrs, makeNode, S_IFCHR, setXattr } from '../../../src/native/fsx.js';
import { readTar } from '../../../src/tar/reader.js';
import { rejects } from '../../helpers/assert.js';
import { isRoot, skipIf } from '../../helpers/skip.js';
import { makeRichTree, listTree, setAllTimes } from '../../helpers/layer-tree.js';

const tmps: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'kiln-layer-'));
  tmps.push(d);
  return d;
}
test.after.each(() => {
  for (const d of tmps.splice(0)) rmSync(d, { recursive: true, force: true });
});

const bytes = async (s: Readable) => Buffer.concat(await s.toArray());
async function names(tar: Buffer): Promise<string[]> {
  const out = [];
  for await (const { entry } of readTar(Readable.from([tar]))) out.push(entry.type === 'dir' ? entry.name + '/' : entry.name);
  return out;
}

test('layerTar lists members in walk order with sorted names and no root member', async () => {
  const d = tmp();
  for (const p of ['b/z', 'b/a', 'a-b', 'a/x']) {
    mkdirSync(join(d, p, '..'), { recursive: true });
    writeFileSync(join(d, p), p);
  }
  assert.equal(await names(await bytes(layerTar(d))), ['a/', 'a/x', 'a-b', 'b/', 'b/a', 'b/z']);
});

test('layerTar refuses a file name that is not valid UTF-8 with a clear error', async () => {
  const d = tmp();
  writeFileSync(Buffer.from(`${d}/caf\xe9`, 'latin1'), 'x');
  await rejects(() => bytes(layerTar(d)), 'INVALID_ARGUMENT', /not valid UTF-8/);
});

test('applyLayer with whiteouts: keep unpacks .wh. members as ordinary files (an ADD archive)', async () => {
  const { packTar } = await import('../../../src/tar/writer.js');
  const d = tmp();
  await applyLayer(packTar([{ name: '.wh.x', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 1, mtime: 0, data: Buffer.from('w') }]), d, {
    whiteouts: 'keep',
  });
  assert.is(readFileSync(join(d, '.wh.x'), 'utf8'), 'w');
});

{
  // Device nodes, chown to other owners and security.capability need root.
  const test = skipIf(!isRoot, 'needs root (mknod, chown, security.* xattrs)');
  test('layerTar -> applyLayer -> layerTar is byte-identical for a tree with every member kind', async () => {
    const src = tmp();
    makeRichTree(src);
    const first = await bytes(layerTar(src, { sourceDateEpoch: 1700000000 }));
    const dest = tmp();
    await applyLayer(Readable.from([first]).pipe(createCompressStream('gzip')), dest);
    setAllTimes(src, 1600000000); // clamp makes times irrelevant only above the epoch; compare listings at equal times
    assert.equal(
      listTree(dest).map((l) => l.replace(/mtime=\d+/, '')),
      listTree(src).map((l) => l.replace(/mtime=\d+/, '')),
    );
    const second = await bytes(layerTar(dest, { sourceDateEpoch: 1700000000 }));
    assert.ok(second.equals(first), 'same bytes after a round trip');
    const ping = getXattrs(join(dest, 'usr/bin/ping'))!;
    assert.is(ping['security.capability']!.toString('hex'), '0100000200040000000000000000000000000000');
    assert.is(lstatSync(join(dest, 'usr/bin/ping')).ino, lstatSync(join(dest, 'usr/bin/ping6')).ino, 'hardlink kept');
    assert.is(lstatSync(join(dest, 'nobody-file')).uid, 4294967294);
    assert.is(lstatSync(join(dest, 'usr/bin/ping')).mode & 0o7777, 0o4755, 'setuid survives chown');
  });

  test('sourceDateEpoch makes two copies of the same tree, made at different times, pack to the same bytes', async () => {
    const a = tmp(),
      b = tmp();
    makeRichTree(a);
    await new Promise((r) => setTimeout(r, 1100));
    makeRichTree(b);
    const ta = await bytes(layerTar(a, { sourceDateEpoch: 1000 }));
    const tb = await bytes(layerTar(b, { sourceDateEpoch: 1000 }));
    assert.ok(ta.equals(tb));
    const tc = await bytes(layerTar(b));
    assert.not.ok(tc.equals(ta), 'without the epoch, real mtimes are kept');
  });

  test('overlay whiteouts become OCI whiteouts and back (char 0:0 <-> .wh.name, opaque xattr <-> .wh..wh..opq)', async () => {
    const upper = tmp();
    makeNode(join(upper, 'gone'), S_IFCHR, 0, 0);
    mkdirSync(join(upper, 'etc/opq'), { recursive: true });
    setXattr(join(upper, 'etc/opq'), 'trusted.overlay.opaque', Buffer.from('y'));
    setXattr(join(upper, 'etc'), 'trusted.overlay.origin', Buffer.from([1, 2, 3]));
    writeFileSync(join(upper, 'etc/opq/new'), 'n');
    makeNode(join(upper, 'etc/gone2'), S_IFCHR, 0, 0);
    const tar = await bytes(layerTar(upper, { sourceDateEpoch: 5 }));
    assert.equal(await names(tar), ['etc/', 'etc/.wh.gone2', 'etc/opq/', 'etc/opq/.wh..wh..opq', 'etc/opq/new', '.wh.gone']);
    for await (const { entry } of readTar(Readable.from([tar])))
      assert.not.ok(
        Object.keys(entry.xattrs ?? {}).some((k) => k.startsWith('trusted.overlay.')),
        'overlay xattrs are dropped',
      );

    const snap = tmp();
    await applyLayer(Readable.from([tar]), snap);
    assert.ok(lstatSync(join(snap, 'gone')).isCharacterDevice());
    assert.is(lstatSync(join(snap, 'etc/gone2')).rdev, 0);
    assert.is(getXattrs(join(snap, 'etc/opq'))!['trusted.overlay.opaque']!.toString(), 'y');
    assert.not.ok(existsSync(join(snap, '.wh.gone')));
    const again = await bytes(layerTar(snap, { sourceDateEpoch: 5 }));
    assert.ok(again.equals(tar));

    const plain = await names(await bytes(layerTar(upper, { mode: 'plain' })));
    assert.ok(plain.includes('gone') && !plain.some((n) => n.includes('.wh.')), 'plain mode keeps devices as they are');
  });

  test('applyLayer in delete mode removes whited-out files and clears opaque directories of older files', async () => {
    const base = tmp();
    mkdirSync(join(base, 'd'));
    writeFileSync(join(base, 'd/old'), 'o');
    writeFileSync(join(base, 'keep'), 'k');
    writeFileSync(join(base, 'rm-me'), 'r');
    const layer = tmp();
    mkdirSync(join(layer, 'd'));
    setXattr(join(layer, 'd'), 'trusted.overlay.opaque', Buffer.from('y'));
    writeFileSync(join(layer, 'd/new'), 'n');
    makeNode(join(layer, 'rm-me'), S_IFCHR, 0, 0);
    await applyLayer(layerTar(layer), base, { whiteouts: 'delete' });
    assert.equal(readdirSync(base).sort(), ['d', 'keep']);
    assert.equal(readdirSync(join(base, 'd')), ['new']);
  });

  test('a whiteout followed by a directory of the same name in one layer becomes an opaque directory', async () => {
    const { packTar } = await import('../../../src/tar/writer.js');
    const snap = tmp();
    await applyLayer(
      packTar([
        { name: '.wh.d', type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtime: 0 },
        { name: 'd', type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0 },
      ]),
      snap,
    );
    assert.ok(lstatSync(join(snap, 'd')).isDirectory());
    assert.is(getXattrs(join(snap, 'd'))!['trusted.overlay.opaque']!.toString(), 'y');
  });
}

test.run();
