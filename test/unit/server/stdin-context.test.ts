/** `kiln --host build -`: stdin is sent as a context archive, or wrapped as a one-file tar when it is a Dockerfile. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { contextFromStdin } from '../../../src/cli/remote/stdin-context.js';
import { KilnError } from '../../../src/errors.js';

async function collect(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Splits `buf` into small chunks, as a pipe delivers it (the detection must look past the first chunk). */
const chunked = (buf: Buffer, size = 100) =>
  Readable.from(Array.from({ length: Math.ceil(buf.length / size) }, (_, i) => buf.subarray(i * size, (i + 1) * size)));

test('a tar on stdin passes through byte for byte, also when it arrives in small chunks', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-stdin-ctx-'));
  try {
    writeFileSync(join(dir, 'Dockerfile'), 'FROM busybox\n');
    const tar = execFileSync('tar', ['-C', dir, '-c', '.']);
    const r = await contextFromStdin(chunked(tar));
    assert.ok(r.isArchive);
    assert.ok((await collect(r.stream)).equals(tar));
    const gz = gzipSync(tar);
    const g = await contextFromStdin(chunked(gz, 1));
    assert.ok(g.isArchive);
    assert.ok((await collect(g.stream)).equals(gz));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a Dockerfile on stdin becomes a tar holding only Dockerfile, the same bytes each time', async () => {
  const text = 'FROM busybox\nRUN echo hi\n';
  const a = await contextFromStdin(chunked(Buffer.from(text), 5));
  assert.not.ok(a.isArchive);
  const tar = await collect(a.stream);
  const listed = execFileSync('tar', ['-t', '-f', '-'], { input: tar, encoding: 'utf8' });
  assert.is(listed, 'Dockerfile\n');
  assert.is(execFileSync('tar', ['-x', '-O', '-f', '-', 'Dockerfile'], { input: tar, encoding: 'utf8' }), text);
  const b = await contextFromStdin(Readable.from([Buffer.from(text)]));
  assert.ok((await collect(b.stream)).equals(tar));
});

test('empty stdin is a clear error', async () => {
  try {
    await contextFromStdin(Readable.from([]));
    assert.unreachable();
  } catch (err) {
    assert.instance(err, KilnError);
    assert.match((err as Error).message, /empty/);
  }
});

test.run();
