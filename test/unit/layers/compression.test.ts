import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  compressionOfMediaType,
  createCompressStream,
  createDecompressStream,
  layerMediaType,
  sniffCompression,
  type AnyCompression,
  type Compression,
} from '../../../src/layers/compression.js';
import { MediaType } from '../../../src/image/types.js';

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) parts.push(c);
  return Buffer.concat(parts);
}

/** Half random, half repetitive, in uneven chunks, so compressors and the sniffer see split input. */
function sample(): Buffer[] {
  const data = Buffer.concat([randomBytes(300_000), Buffer.alloc(500_000, 'kiln ')]);
  const chunks: Buffer[] = [];
  for (let i = 0, n = 1; i < data.length; i += n, n = ((n * 7) % 70_001) + 1) chunks.push(data.subarray(i, i + n));
  return chunks;
}

for (const kind of ['gzip', 'zstd', 'none'] as Compression[]) {
  test(`${kind}: compress then auto-decompress gives the input back and is sniffed as ${kind}`, async () => {
    const chunks = sample();
    const compressed = await collect(Readable.from(chunks).pipe(createCompressStream(kind)));
    assert.is(sniffCompression(compressed.subarray(0, 6)), kind === 'none' ? 'none' : kind);
    const out = await collect(
      Readable.from([compressed.subarray(0, 1), compressed.subarray(1, 3), compressed.subarray(3)]).pipe(createDecompressStream('auto')),
    );
    assert.ok(out.equals(Buffer.concat(chunks)));
  });
}

for (const kind of ['bzip2', 'xz'] as AnyCompression[]) {
  test(`${kind} streams decompress through the system tool`, async () => {
    const { execFileSync } = await import('node:child_process');
    const input = Buffer.from('hello from ' + kind + '\n'.repeat(1000));
    const compressed = execFileSync(kind, ['-c'], { input });
    assert.is(sniffCompression(compressed), kind);
    const out = await collect(Readable.from([compressed]).pipe(createDecompressStream('auto')));
    assert.ok(out.equals(input));
  });
}

test('parallel gzip output is independent of input chunking and concurrency, and GNU gzip reads it', async () => {
  const { execFileSync } = await import('node:child_process');
  const { ParallelGzip } = await import('../../../src/layers/parallel-gzip.js');
  const chunks = [...sample(), ...sample(), ...sample()]; // ~2.4 MB: three members
  const whole = Buffer.concat(chunks);
  const a = await collect(Readable.from(chunks).pipe(new ParallelGzip({ level: 1 })));
  const b = await collect(Readable.from([whole]).pipe(new ParallelGzip({ level: 1, concurrency: 1 })));
  assert.ok(a.equals(b));
  assert.ok(execFileSync('gzip', ['-dc'], { input: a, maxBuffer: 1 << 26 }).equals(whole));
  const empty = await collect(Readable.from([]).pipe(new ParallelGzip({ level: 1 })));
  assert.is(execFileSync('gzip', ['-dc'], { input: empty }).length, 0, 'empty input is a valid empty gzip');
});

test('parallel gzip stores incompressible blocks and still compresses the rest (GNU gzip reads both)', async () => {
  const { execFileSync } = await import('node:child_process');
  const { GZIP_BLOCK, ParallelGzip, incompressible } = await import('../../../src/layers/parallel-gzip.js');
  const random = randomBytes(GZIP_BLOCK);
  const text = Buffer.alloc(GZIP_BLOCK, 'kiln layers compress well\n');
  const mixed = Buffer.concat([random.subarray(0, GZIP_BLOCK / 2), text.subarray(0, GZIP_BLOCK / 2)]);
  assert.ok(await incompressible(random));
  assert.not.ok(await incompressible(text));
  assert.not.ok(await incompressible(mixed), 'a block with a compressible sample is deflated');
  const whole = Buffer.concat([random, text, mixed]);
  const out = await collect(Readable.from([whole]).pipe(new ParallelGzip({ level: 1 })));
  assert.ok(execFileSync('gzip', ['-dc'], { input: out, maxBuffer: 1 << 26 }).equals(whole));
  // Stored: the random block costs its size plus framing; the text and mixed blocks shrink.
  assert.ok(out.length > GZIP_BLOCK && out.length < GZIP_BLOCK * 1.6, `${out.length} bytes`);
});

test('a corrupt gzip stream fails with ARCHIVE_INVALID', async () => {
  const bad = Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), randomBytes(1000)]);
  try {
    await pipeline(Readable.from([bad]), createDecompressStream('auto'), async function* (src) {
      for await (const _ of src) {
        /* drain */
      }
    });
    assert.unreachable('should fail');
  } catch (err) {
    assert.is((err as any).code, 'ARCHIVE_INVALID');
  }
});

for (const kind of ['gzip', 'zstd'] as Compression[])
  test(`a truncated ${kind} stream fails instead of ending early`, async () => {
    const whole = await collect(Readable.from(sample()).pipe(createCompressStream(kind)));
    try {
      await collect(Readable.from([whole.subarray(0, whole.length - 100)]).pipe(createDecompressStream('auto')));
      assert.unreachable('should fail');
    } catch (err) {
      assert.is((err as any).code, 'ARCHIVE_INVALID');
    }
  });

test('an empty stream decompresses to nothing', async () => {
  const out = await collect(Readable.from([]).pipe(createDecompressStream('auto')));
  assert.is(out.length, 0);
});

test('media types map to compressions both ways', () => {
  assert.is(layerMediaType('gzip'), MediaType.OciLayerGzip);
  assert.is(layerMediaType('gzip', 'docker'), MediaType.DockerLayerGzip);
  assert.is(layerMediaType('none', 'docker'), MediaType.DockerLayer);
  assert.is(layerMediaType('zstd'), MediaType.OciLayerZstd);
  for (const mt of Object.values(MediaType)) {
    const c = compressionOfMediaType(mt);
    if (mt.includes('layer') || mt.includes('rootfs')) assert.ok(c, mt);
    else assert.is(c, undefined, mt);
  }
});

test.run();
