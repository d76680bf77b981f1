import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createContentStore } from '../../../../src/cache/content-store.js';
import { describeLayers } from '../../../../src/server/ui/image-layers.js';
import { MediaType } from '../../../../src/image/types.js';
import { tarOf } from '../../../helpers/tar.js';

async function image(layers: Array<Record<string, string>>, createdBy: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-layers-'));
  const content = createContentStore(dir);
  const descs = [];
  for (const files of layers) {
    const blob = gzipSync(await tarOf(files));
    const info = await content.writeBuffer(blob);
    descs.push({ mediaType: MediaType.OciLayerGzip, digest: info.digest, size: info.size });
  }
  const config = {
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [] },
    history: [{ created_by: 'ENV A=1', empty_layer: true }, ...createdBy.map((c) => ({ created_by: c }))],
  };
  const cfg = await content.writeBuffer(JSON.stringify(config));
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: cfg.digest, size: cfg.size },
    layers: descs,
  };
  const m = await content.writeBuffer(JSON.stringify(manifest));
  return { content, digest: m.digest, done: () => rmSync(dir, { recursive: true, force: true }) };
}

test('describeLayers() lists what each layer adds (with sizes) and removes (whiteouts, opaque dirs)', async () => {
  const img = await image(
    [
      { 'etc/a.conf': 'aaaa', 'usr/bin/tool': 'x'.repeat(100) },
      { 'etc/.wh.a.conf': '', 'var/cache/.wh..wh..opq': '', 'app/main.js': 'hello' },
    ],
    ['ADD rootfs /', 'RUN rm /etc/a.conf && build'],
  );
  try {
    const r = await describeLayers(img.content, img.digest);
    assert.is(r.layers.length, 2);
    assert.is(r.layers[0].size, 104);
    assert.equal(
      r.layers[0].added.map((f) => f.path),
      ['/etc/a.conf', '/usr/bin/tool'],
    );
    assert.is(r.layers[0].createdBy, 'ADD rootfs /');
    assert.equal(r.layers[1].removed, ['/etc/a.conf', '/var/cache/*']);
    assert.equal(
      r.layers[1].added.map((f) => [f.path, f.size]),
      [['/app/main.js', 5]],
    );
    assert.is(r.layers[1].createdBy, 'RUN rm /etc/a.conf && build');
    assert.is(r.totalSize, 109);
  } finally {
    img.done();
  }
});

test('describeLayers() caps the paths it lists per layer and counts the rest', async () => {
  const files: Record<string, string> = {};
  for (let i = 0; i < 30; i++) files[`f${i}`] = 'x';
  const img = await image([files], ['COPY . /']);
  try {
    const r = await describeLayers(img.content, img.digest, { maxFiles: 10 });
    assert.is(r.layers[0].added.length, 10);
    assert.is(r.layers[0].addedTotal, 30);
    assert.ok(r.layers[0].truncated);
    await describeLayers(img.content, 'sha256:nope').then(
      () => assert.unreachable(),
      (e: { code?: string }) => assert.is(e.code, 'INVALID_ARGUMENT'),
    );
  } finally {
    img.done();
  }
});

test.run();
