import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createBlobSources } from '../../../src/registry/blob-sources.js';
import { createTransferRenderer, formatBytes } from '../../../src/cli/progress/transfer.js';
import { parseUploadRange } from '../../../src/registry/upload-writer.js';

test("parseUploadRange() reads Distribution's inclusive Range (0-0 means nothing yet)", () => {
  assert.is(parseUploadRange('0-1023'), 1024);
  assert.is(parseUploadRange('bytes=0-99'), 100);
  assert.is(parseUploadRange('0-0'), 0);
  assert.is(parseUploadRange(''), undefined);
  assert.is(parseUploadRange('5-10'), undefined);
});

test('plain progress prints one line per layer status change, Docker style', () => {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d) => (text += d));
  const r = createTransferRenderer('pull', out, false);
  const d = `sha256:${'ab'.repeat(32)}`;
  r.onEvent({ type: 'blob', digest: d, size: 100, kind: 'layer', status: 'downloading', current: 0 });
  for (let i = 1; i <= 10; i++) r.onEvent({ type: 'blob', digest: d, size: 100, kind: 'layer', status: 'downloading', current: i * 10 });
  r.onEvent({ type: 'blob', digest: d, size: 100, kind: 'layer', status: 'done', current: 100 });
  r.onEvent({ type: 'blob', digest: `sha256:${'cd'.repeat(32)}`, size: 5, kind: 'config', status: 'done', current: 5 });
  r.close();
  assert.is(text, 'abababababab: Downloading\nabababababab: Pull complete\n');
});

test('push progress names the repository a layer was mounted from', () => {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d) => (text += d));
  const r = createTransferRenderer('push', out, false);
  r.onEvent({ type: 'blob', digest: `sha256:${'12'.repeat(32)}`, size: 1, kind: 'layer', status: 'mounted', current: 1, message: 'from team/base' });
  r.close();
  assert.is(text, '121212121212: Mounted from team/base\n');
});

test('TTY progress redraws one line per layer in place with a bar and byte counts', () => {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d) => (text += d));
  const r = createTransferRenderer('push', out, true);
  const a = `sha256:${'aa'.repeat(32)}`;
  const b = `sha256:${'bb'.repeat(32)}`;
  r.onEvent({ type: 'blob', digest: a, size: 2_000_000, kind: 'layer', status: 'uploading', current: 0 });
  r.onEvent({ type: 'blob', digest: b, size: 10, kind: 'layer', status: 'exists', current: 10 });
  r.onEvent({ type: 'blob', digest: a, size: 2_000_000, kind: 'layer', status: 'uploading', current: 1_000_000 });
  r.close();
  const frames = text.split('\x1b[2A');
  assert.ok(frames.length >= 2, 'later frames move the cursor up over the earlier lines');
  const last = frames[frames.length - 1]!;
  assert.match(last, /\x1b\[2Kaaaaaaaaaaaa: Pushing +\[=+>\s+\] 1\.00MB\/2\.00MB/);
  assert.match(last, /\x1b\[2Kbbbbbbbbbbbb: Layer already exists\n/);
});

test('formatBytes() uses decimal units', () => {
  assert.is(formatBytes(999), '999B');
  assert.is(formatBytes(52_428_800), '52.4MB');
});

test('blob sources remember which repositories of a registry hold a digest', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-bs-'));
  try {
    const s = createBlobSources(dir);
    await s.record('r:5000', 'team/a', ['sha256:1', 'sha256:2']);
    await s.record('r:5000', 'team/b', ['sha256:1']);
    await s.record('other:5000', 'x', ['sha256:1']);
    assert.equal(await s.repositories('r:5000', 'sha256:1'), ['team/b', 'team/a']);
    assert.equal(await s.repositories('r:5000', 'sha256:3'), []);
    assert.equal(await s.repositories('other:5000', 'sha256:2'), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
