import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createGunzip } from 'node:zlib';
import { ensureBusyboxImage } from '../../../src/cache/busybox-image.js';
import { readTar } from '../../../src/tar/reader.js';
import { rejects } from '../../helpers/assert.js';
import { cleanupRoots, tempRoot } from './store-fixtures.js';

test.after(cleanupRoots);

test('ensureBusyboxImage() is deterministic across roots and idempotent', async () => {
  const a = await tempRoot();
  const b = await tempRoot();
  const first = await ensureBusyboxImage(a);
  const again = await ensureBusyboxImage(a);
  const other = await ensureBusyboxImage(b);
  assert.ok(first.created);
  assert.not.ok(again.created);
  assert.is(again.image.manifestDigest, first.image.manifestDigest);
  assert.is(other.image.manifestDigest, first.image.manifestDigest);
  assert.equal(first.image.config.config?.Cmd, ['sh']);
  assert.ok(first.image.config.config?.Env?.some((e) => e.startsWith('PATH=')));
});

test('the busybox layer has a shell, applets, users and a sticky /tmp', async () => {
  const root = await tempRoot();
  const { image } = await ensureBusyboxImage(root, 'bb:test');
  const entries = new Map<string, { type: string; mode: number; linkname?: string; data?: string }>();
  const src = (await root.content.read(image.manifest.layers[0]!.digest)).pipe(createGunzip());
  for await (const m of readTar(src)) {
    let data = '';
    for await (const b of m.body) data += b.toString();
    entries.set(m.entry.name, { type: m.entry.type, mode: m.entry.mode, linkname: m.entry.linkname, data });
  }
  assert.is(entries.get('bin/busybox')?.type, 'file');
  assert.is(entries.get('bin/sh')?.linkname, '/bin/busybox');
  assert.ok(entries.has('bin/ls'));
  assert.is(entries.get('tmp')?.mode, 0o1777);
  assert.match(entries.get('etc/passwd')!.data!, /^root:x:0:0:/m);
  assert.match(entries.get('etc/passwd')!.data!, /^kiln:x:1000:1000:/m);
  assert.match(entries.get('etc/passwd')!.data!, /^nobody:x:65534:/m);
  assert.match(entries.get('etc/group')!.data!, /^kiln:x:1000:/m);
  assert.ok(entries.has('etc/nsswitch.conf'));
  assert.ok(entries.has('root'));
});

test('ensureBusyboxImage() fails with PRECONDITION when busybox is missing', async () => {
  const root = await tempRoot();
  await rejects(() => ensureBusyboxImage(root, 'busybox:latest', { busybox: '/nonexistent/busybox' }), 'PRECONDITION', /busybox-static|not found/);
});

test.run();
