import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { createContentStore } from '../../../src/cache/content-store.js';
import type { ContentStore } from '../../../src/cache/types.js';
import { copyBlob, type CopyOptions } from '../../../src/registry/copy.js';
import type { UploadWriter } from '../../../src/registry/types.js';
import { rejects } from '../../helpers/assert.js';

const data = randomBytes(300_000);
const desc = { mediaType: 'application/octet-stream', digest: `sha256:${createHash('sha256').update(data).digest('hex')}`, size: data.length };
const opts: CopyOptions = { maxAttempts: 4, backoff: async () => {}, what: 'test blob' };
const reset = () => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });

let dir = '';
let store: ContentStore;
test.before.each(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-copy-'));
  store = createContentStore(join(dir, 'oci'), { tmpDir: join(dir, 'tmp') });
});
test.after.each(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A source yielding `bytes` from `offset`, failing with a reset after `failAfter` bytes on the listed attempts. */
function source(bytes: Buffer, failOn: Record<number, number> = {}) {
  const offsets: number[] = [];
  const open = async (offset: number) => {
    offsets.push(offset);
    const failAfter = failOn[offsets.length];
    const slice = bytes.subarray(offset);
    return Readable.from(
      (async function* () {
        for (let i = 0; i < slice.length; i += 16384) {
          if (failAfter !== undefined && i >= failAfter) throw reset();
          yield slice.subarray(i, i + 16384);
        }
      })(),
    );
  };
  return { open, offsets };
}

const tmpEmpty = async () => (await readdir(join(dir, 'tmp')).catch(() => [])).length === 0;

test('a reset mid-blob continues from the bytes already written (Range resume), and the blob verifies', async () => {
  const src = source(data, { 1: 100_000 });
  const info = await copyBlob(desc, src.open, () => store.writer(), opts);
  assert.equal(info, { digest: desc.digest, size: desc.size });
  assert.is(src.offsets.length, 2);
  assert.is(src.offsets[0], 0);
  assert.is(src.offsets[1], Math.ceil(100_000 / 16384) * 16384, 'resumed right after the last chunk delivered');
  assert.ok(await store.has(desc.digest));
});

test('wrong bytes are refused with DIGEST_MISMATCH and nothing stays in the store', async () => {
  const bad = Buffer.from(data);
  bad[1234] ^= 0xff;
  await rejects(() => copyBlob(desc, source(bad).open, () => store.writer(), opts), 'DIGEST_MISMATCH');
  assert.not.ok(await store.has(desc.digest));
  assert.ok(await tmpEmpty(), 'no temp file left');
});

test('a body longer than the descriptor is cut off with SIZE_MISMATCH', async () => {
  await rejects(() => copyBlob(desc, source(Buffer.concat([data, data])).open, () => store.writer(), opts), 'SIZE_MISMATCH', /more bytes/);
  assert.ok(await tmpEmpty());
});

test('a truncated body (source ends early) is SIZE_MISMATCH', async () => {
  await rejects(() => copyBlob(desc, source(data.subarray(0, 1000)).open, () => store.writer(), opts), 'SIZE_MISMATCH', /got 1000 bytes/);
  assert.ok(await tmpEmpty());
});

test('retries are bounded: a source that always resets fails after maxAttempts, leaving nothing', async () => {
  const src = source(data, { 1: 0, 2: 0, 3: 0, 4: 0, 5: 0 });
  await rejects(() => copyBlob(desc, src.open, () => store.writer(), opts), 'REGISTRY_UNAVAILABLE', /after 4 attempts/);
  assert.is(src.offsets.length, 4);
  assert.ok(await tmpEmpty());
});

test('an upload writer that can resume is continued where the destination says', async () => {
  let received = Buffer.alloc(0);
  let committed = false;
  const make = (): Writable =>
    new Writable({
      write(c, _e, cb) {
        received = Buffer.concat([received, c]);
        cb();
      },
    });
  let stream = make();
  const w: UploadWriter = {
    get stream() {
      return stream;
    },
    get written() {
      return received.length;
    },
    async resumeOffset() {
      received = received.subarray(0, 50_000);
      stream = make();
      return 50_000;
    },
    async commit() {
      committed = true;
      return { digest: desc.digest, size: received.length };
    },
    async abort() {},
  };
  const src = source(data, { 1: 100_000 });
  await copyBlob(desc, src.open, async () => w, opts);
  assert.equal(src.offsets, [0, 50_000]);
  assert.ok(committed);
  assert.ok(received.equals(data));
});

test('undefined from the writer factory means the destination has the blob', async () => {
  const src = source(data);
  assert.is(await copyBlob(desc, src.open, async () => undefined, opts), undefined);
  assert.is(src.offsets.length, 0);
});

test('a writer destroyed while the source is still being read (a cancelled parallel upload) ends the copy instead of hanging', async () => {
  // The destination closes (no error) as the last bytes are read: writes after that return false and no
  // 'drain' or 'close' will come again. The copy must reject, not wait for ever.
  const small = data.subarray(0, 10_000);
  const smallDesc = { ...desc, digest: `sha256:${createHash('sha256').update(small).digest('hex')}`, size: small.length };
  let aborted = 0;
  const stream = new Writable({
    highWaterMark: 1024,
    write(_c, _e, cb) {
      cb();
    },
  });
  const writer: UploadWriter = {
    stream,
    written: 0,
    commit: async () => ({ digest: smallDesc.digest, size: smallDesc.size }),
    abort: async () => {
      aborted++;
    },
  };
  const open = async () =>
    Readable.from(
      (async function* () {
        yield small.subarray(0, 5000);
        stream.destroy();
        await new Promise((r) => setTimeout(r, 20)); // its 'close' is emitted before the next chunk arrives
        yield small.subarray(5000);
      })(),
    );
  const outcome = await Promise.race([
    copyBlob(smallDesc, open, async () => writer, opts).then(
      () => 'resolved',
      () => 'rejected',
    ),
    new Promise((r) => setTimeout(() => r('hung'), 3000)),
  ]);
  assert.is(outcome, 'rejected');
  assert.is(aborted, 1, 'the writer was aborted');
});

test.run();
