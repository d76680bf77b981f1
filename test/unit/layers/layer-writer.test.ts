import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createContentStore } from '../../../src/cache/content-store.js';
import { createDecompressStream, type Compression } from '../../../src/layers/compression.js';
import { writeLayer } from '../../../src/exporter/layer-writer.js';
import { packTar } from '../../../src/tar/writer.js';
import { MediaType } from '../../../src/image/types.js';

const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

function sampleTar(): Promise<Buffer> {
  const entries = Array.from({ length: 900 }, (_, i) => ({
    name: `f${i}`,
    type: 'file' as const,
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: 2000,
    mtime: 0,
    data: Buffer.alloc(2000, i),
  }));
  return Readable.from(packTar(entries))
    .toArray()
    .then((c) => Buffer.concat(c));
}

for (const compression of ['gzip', 'zstd', 'none'] as Compression[]) {
  test(`writeLayer(${compression}) stores the compressed blob and reports the uncompressed diff ID`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-lw-'));
    try {
      const content = createContentStore(dir);
      const tar = await sampleTar();
      const layer = await writeLayer(content, Readable.from([tar]), { compression });
      assert.is(layer.diffId, sha(tar));
      assert.is(layer.uncompressedSize, tar.length);
      const blob = readFileSync(content.blobPath(layer.descriptor.digest));
      assert.is(layer.descriptor.digest, sha(blob));
      assert.is(layer.descriptor.size, blob.length);
      assert.is(layer.descriptor.mediaType, { gzip: MediaType.OciLayerGzip, zstd: MediaType.OciLayerZstd, none: MediaType.OciLayer }[compression]);
      if (compression !== 'none') assert.ok(blob.length < tar.length / 5, 'compressed');
      const back = Buffer.concat(await Readable.from([blob]).pipe(createDecompressStream('auto')).toArray());
      assert.ok(back.equals(tar));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('writeLayer uses Docker media types on request', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-lw-'));
  try {
    const layer = await writeLayer(createContentStore(dir), Readable.from([await sampleTar()]), { format: 'docker' });
    assert.is(layer.descriptor.mediaType, MediaType.DockerLayerGzip);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an aborted writeLayer leaves no blob behind', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-lw-'));
  try {
    const content = createContentStore(dir);
    const ac = new AbortController();
    async function* slow() {
      yield Buffer.alloc(1024);
      ac.abort();
      await new Promise((r) => setTimeout(r, 20));
      yield Buffer.alloc(1024);
    }
    await writeLayer(content, Readable.from(slow()), { signal: ac.signal }).then(
      () => assert.unreachable('aborted'),
      () => {},
    );
    const blobs: string[] = [];
    for await (const b of content.list()) blobs.push(b.digest);
    assert.equal(blobs, []);
    const tmp = join(dir, '.kiln-tmp');
    assert.equal(
      readdirSync(tmp, { withFileTypes: true })
        .filter((d) => d.isFile())
        .map((d) => d.name),
      [],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
