import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createContextCache } from '../../../src/server/context-cache.js';
import { rejects } from '../../helpers/assert.js';
import { tarOf } from '../../helpers/tar.js';

const body = (b: Buffer) => Readable.from([b]) as Readable & AsyncIterable<Buffer>;
const LIMITS = { maxBytes: 10 * 1024 * 1024 };

function fresh() {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-ctxcache-'));
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}

test('identical uploads share one unpacked directory, also when they arrive at once', async () => {
  const t = fresh();
  const cache = createContextCache({ dir: t.dir, maxEntries: 4 });
  const a = await tarOf({ Dockerfile: 'FROM x\n', 'f.txt': 'one' });
  const [l1, l2] = await Promise.all([cache.acquire(body(a), LIMITS), cache.acquire(body(a), LIMITS)]);
  assert.is(l1.dir, l2.dir);
  assert.is(readFileSync(join(l1.dir, 'f.txt'), 'utf8'), 'one');
  const l3 = await cache.acquire(body(a), LIMITS);
  assert.ok(l3.reused);
  for (const l of [l1, l2, l3]) await l.release();
  assert.equal(
    readdirSync(t.dir).filter((n) => n.startsWith('.')),
    [],
    'no spool or partial left',
  );
  t.done();
});

test('past maxEntries the least recently used idle context goes; one in use stays', async () => {
  const t = fresh();
  const cache = createContextCache({ dir: t.dir, maxEntries: 1 });
  const held = await cache.acquire(body(await tarOf({ a: '1' })), LIMITS);
  const other = await cache.acquire(body(await tarOf({ b: '2' })), LIMITS);
  await other.release();
  assert.ok(existsSync(held.dir), 'in use: kept');
  assert.not.ok(existsSync(other.dir), 'idle and over the limit: evicted');
  await held.release();
  assert.ok(existsSync(held.dir), 'the one entry allowed stays for reuse');
  t.done();
});

test('past maxBytes idle contexts are evicted', async () => {
  const t = fresh();
  const cache = createContextCache({ dir: t.dir, maxEntries: 10, maxBytes: 1 });
  const l = await cache.acquire(body(await tarOf({ a: 'x'.repeat(1000) })), LIMITS);
  await l.release();
  assert.not.ok(existsSync(l.dir));
  t.done();
});

test('a bad upload leaves nothing behind and is not cached', async () => {
  const t = fresh();
  const cache = createContextCache({ dir: t.dir, maxEntries: 4 });
  await rejects(() => cache.acquire(body(Buffer.from('not a tar'.repeat(100))), LIMITS), 'ARCHIVE_INVALID');
  await rejects(() => cache.acquire(body(Buffer.alloc(4096, 1)), { maxBytes: 100 }), 'PAYLOAD_TOO_LARGE');
  assert.equal(readdirSync(t.dir), []);
  t.done();
});

test.run();
