import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdir, readFile, writeFile, chmod, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { hashBlob, writeBlob } from '../../../src/cache/content-store.js';
import { verifyStore } from '../../../src/cache/verify.js';
import { sha256Digest } from '../../../src/image/digest.js';
import { rejects } from '../../helpers/assert.js';
import { blobCount, cleanupRoots, tempRoot } from './store-fixtures.js';

test.after(cleanupRoots);

test('a blob is invisible until commit, then readable under its digest', async () => {
  const root = await tempRoot();
  const w = await root.content.writer();
  w.stream.write('hello ');
  w.stream.write('world');
  const digest = sha256Digest('hello world');
  assert.is(await root.content.has(digest), false, 'not visible before commit');
  const info = await w.commit({ digest, size: 11 });
  assert.equal(info, { digest, size: 11 });
  assert.is((await root.content.readBuffer(digest)).toString(), 'hello world');
  assert.equal(await readdir(root.tmpDir), [], 'no temp file left');
});

test('writing a blob that exists succeeds and keeps one copy', async () => {
  const root = await tempRoot();
  const a = await root.content.writeBuffer('same');
  const b = await root.content.writeBuffer('same');
  const w = await root.content.writer();
  w.stream.end('same');
  const c = await w.commit();
  assert.equal(a, b);
  assert.equal(a, c);
  assert.is(await blobCount(root), 1);
  assert.equal(await readdir(root.tmpDir), []);
});

test('a digest or size mismatch fails the commit and leaves nothing behind', async () => {
  const root = await tempRoot();
  const w = await root.content.writer();
  w.stream.end('payload');
  await rejects(() => w.commit({ digest: sha256Digest('other') }), 'DIGEST_MISMATCH', /expected sha256:/);
  const w2 = await root.content.writer();
  w2.stream.end('payload');
  await rejects(() => w2.commit({ size: 3 }), 'SIZE_MISMATCH');
  await rejects(() => root.content.writeBuffer('x', { digest: sha256Digest('y') }), 'DIGEST_MISMATCH');
  assert.is(await blobCount(root), 0);
  assert.equal(await readdir(root.tmpDir), []);
});

test('abort() removes the temp file and may be called twice', async () => {
  const root = await tempRoot();
  const w = await root.content.writer();
  w.stream.write('partial');
  await w.abort();
  await w.abort();
  assert.equal(await readdir(root.tmpDir), []);
  assert.is(await blobCount(root), 0);
});

test('an aborted signal cancels a streaming write without publishing', async () => {
  const root = await tempRoot();
  const ac = new AbortController();
  const src = new Readable({
    read() {
      this.push(Buffer.alloc(64 * 1024, 1));
    },
  });
  setTimeout(() => ac.abort(), 20);
  let failed = false;
  await writeBlob(root.content, src, {}, { signal: ac.signal }).catch(() => {
    failed = true;
  });
  assert.ok(failed, 'the write rejects');
  assert.is(await blobCount(root), 0);
  assert.equal(await readdir(root.tmpDir), []);
});

test('concurrent writers of the same and different content all succeed', async () => {
  const root = await tempRoot();
  const payloads = Array.from({ length: 24 }, (_, i) => Buffer.alloc(200_000 + (i % 4), i % 4));
  const results = await Promise.all(
    payloads.map(async (p) => {
      const w = await root.content.writer();
      for (let off = 0; off < p.length; off += 7000) w.stream.write(p.subarray(off, off + 7000));
      return w.commit({ digest: sha256Digest(p), size: p.length });
    }),
  );
  assert.is(new Set(results.map((r) => r.digest)).size, 4);
  assert.is(await blobCount(root), 4);
  for (const r of results) assert.is((await hashBlob(root.content, r.digest)).digest, r.digest);
});

test('blobs are read-only files named by their hex digest', async () => {
  const root = await tempRoot();
  const { digest } = await root.content.writeBuffer('ro');
  const st = await stat(root.content.blobPath(digest));
  assert.is(st.mode & 0o777, 0o444);
  assert.ok(root.content.blobPath(digest).endsWith(`/oci/blobs/sha256/${digest.slice(7)}`));
});

test('reading a missing blob throws BLOB_NOT_FOUND; delete is idempotent', async () => {
  const root = await tempRoot();
  const d = sha256Digest('nope');
  await rejects(() => root.content.read(d), 'BLOB_NOT_FOUND');
  await rejects(() => root.content.readBuffer(d), 'BLOB_NOT_FOUND');
  assert.is(await root.content.info(d), undefined);
  const { digest } = await root.content.writeBuffer('gone');
  await root.content.delete(digest);
  await root.content.delete(digest);
  assert.is(await root.content.has(digest), false);
});

test('verifyStore() catches a flipped byte in a blob', async () => {
  const root = await tempRoot();
  const { digest } = await root.content.writeBuffer(Buffer.alloc(10_000, 7));
  assert.equal((await verifyStore(root)).problems, []);
  const p = root.content.blobPath(digest);
  await chmod(p, 0o644);
  const buf = await readFile(p);
  buf[5000] ^= 0x01;
  await writeFile(p, buf);
  const report = await verifyStore(root);
  assert.is(report.problems.length, 1);
  assert.is(report.problems[0]!.subject, digest);
  assert.match(report.problems[0]!.message, /corrupt/);
});

test('a lease records the digest before the blob is visible', async () => {
  const root = await tempRoot();
  const seen: Array<{ digest: string; visible: boolean }> = [];
  const lease = {
    add: async (...ds: string[]) => {
      for (const d of ds) seen.push({ digest: d, visible: await root.content.has(d) });
    },
  };
  const w = await root.content.writer({ lease });
  w.stream.end('leased');
  const info = await w.commit();
  assert.equal(seen, [{ digest: info.digest, visible: false }]);
});

test('seal() gives the digest at once and publishes in `durable`; a cancel after it does not undo the blob', async () => {
  const root = await tempRoot();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  // The lease is the first step of publishing: holding it shows the digest is known before the blob is stored.
  const lease = { add: () => gate };
  const ac = new AbortController();
  const w = await root.content.writer({ lease, signal: ac.signal });
  w.stream.end('sealed');
  const { info, durable } = await w.seal!({ digest: sha256Digest('sealed') });
  assert.equal(info, { digest: sha256Digest('sealed'), size: 6 });
  assert.is(await root.content.has(info.digest), false, 'not in the store before durable');
  ac.abort();
  release();
  await durable;
  assert.is((await root.content.readBuffer(info.digest)).toString(), 'sealed');
  assert.equal(await readdir(root.tmpDir), [], 'no temp file left');
});

test('seal() refuses a mismatch at once; a failure to publish rejects `durable` and leaves no temp file', async () => {
  const root = await tempRoot();
  const w = await root.content.writer();
  w.stream.end('payload');
  await rejects(() => w.seal!({ size: 3 }), 'SIZE_MISMATCH');
  const failing = { add: async () => Promise.reject(new Error('lease store full')) };
  const w2 = await root.content.writer({ lease: failing });
  w2.stream.end('payload');
  const { durable } = await w2.seal!();
  await durable.then(
    () => assert.unreachable('durable should reject'),
    (err: Error) => assert.match(err.message, /lease store full/),
  );
  assert.is(await blobCount(root), 0);
  assert.equal(await readdir(root.tmpDir), []);
});

test.run();
