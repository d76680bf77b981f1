import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, mkdirSync, readFileSync, existsSync, lstatSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { unpackContext } from '../../../src/server/context-ingest.js';
import { rejects } from '../../helpers/assert.js';

type Entry = { name: string; body?: string | Buffer; type?: 'file' | 'directory' | 'symlink' | 'link'; linkname?: string; mode?: number };

async function makeTar(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c) => chunks.push(c as Buffer));
  const done = new Promise<void>((r) => pack.on('end', () => r()));
  for (const e of entries) {
    await new Promise<void>((resolve, reject) =>
      pack.entry(
        { name: e.name, type: e.type ?? 'file', linkname: e.linkname, mode: e.mode ?? (e.type === 'directory' ? 0o755 : 0o644) },
        e.body ?? '',
        (err) => (err ? reject(err) : resolve()),
      ),
    );
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** The tar as the docker CLI sends it with `-f` outside the context: no end blocks, no padding after the last file. */
function withoutTail(t: Buffer, lastSize: number): Buffer {
  let end = t.length - 1024;
  while (end > 0 && t.subarray(end - 512, end).every((b) => b === 0)) end -= 512;
  const pad = lastSize % 512 === 0 ? 0 : 512 - (lastSize % 512);
  return t.subarray(0, end - pad);
}

async function* chunks(b: Buffer, size = 700) {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

function fresh(): { base: string; dest: string; done: () => void } {
  const base = mkdtempSync(join(tmpdir(), 'kiln-ingest-'));
  const dest = join(base, 'ctx');
  mkdirSync(dest);
  return { base, dest, done: () => rmSync(base, { recursive: true, force: true }) };
}

const LIMITS = { maxBytes: 1024 * 1024 };

test('unpackContext() unpacks files, directories, symlinks and hard links with their modes', async () => {
  const t = fresh();
  const archive = await makeTar([
    { name: './', type: 'directory' },
    { name: 'src/', type: 'directory', mode: 0o750 },
    { name: 'src/main.sh', body: 'echo hi\n', mode: 0o755 },
    { name: 'Dockerfile', body: 'FROM busybox\n' },
    { name: 'link', type: 'symlink', linkname: 'src/main.sh' },
    { name: 'hard', type: 'link', linkname: 'Dockerfile' },
  ]);
  const r = await unpackContext(chunks(archive), t.dest, LIMITS);
  assert.is(r.entries, 6);
  assert.is(r.compressed, false);
  assert.is(readFileSync(join(t.dest, 'src/main.sh'), 'utf8'), 'echo hi\n');
  assert.is(statSync(join(t.dest, 'src/main.sh')).mode & 0o777, 0o755);
  assert.is(statSync(join(t.dest, 'src')).mode & 0o777, 0o750);
  assert.ok(lstatSync(join(t.dest, 'link')).isSymbolicLink());
  assert.is(statSync(join(t.dest, 'hard')).ino, statSync(join(t.dest, 'Dockerfile')).ino);
  t.done();
});

test('unpackContext() accepts a gzip-compressed context', async () => {
  const t = fresh();
  const archive = gzipSync(await makeTar([{ name: 'Dockerfile', body: 'FROM scratch\n' }]));
  const r = await unpackContext(chunks(archive), t.dest, LIMITS);
  assert.is(r.compressed, true);
  assert.is(readFileSync(join(t.dest, 'Dockerfile'), 'utf8'), 'FROM scratch\n');
  t.done();
});

test("unpackContext() accepts the docker CLI's -f tail: a last entry without padding or end-of-archive blocks", async () => {
  const t = fresh();
  const body = 'FROM busybox\nRUN echo from-outside\n';
  const archive = withoutTail(
    await makeTar([
      { name: 'a.txt', body: 'a' },
      { name: '.dockerfile.1234', body },
    ]),
    body.length,
  );
  assert.ok(archive.length % 512 !== 0);
  await unpackContext(chunks(archive, 100), t.dest, LIMITS);
  assert.is(readFileSync(join(t.dest, '.dockerfile.1234'), 'utf8'), body);
  t.done();
});

test('unpackContext() refuses a tar cut inside a file', async () => {
  const t = fresh();
  const full = await makeTar([{ name: 'big', body: Buffer.alloc(5000, 1) }]);
  await rejects(() => unpackContext(chunks(full.subarray(0, 512 + 3000)), t.dest, LIMITS), 'ARCHIVE_INVALID');
  t.done();
});

test('unpackContext() refuses bytes that are not a tar', async () => {
  const t = fresh();
  await rejects(() => unpackContext(chunks(Buffer.from('this is not a tar archive at all'.repeat(40))), t.dest, LIMITS), 'ARCHIVE_INVALID');
  t.done();
});

test('unpackContext() refuses entries with .. or absolute names and writes nothing outside', async () => {
  for (const name of ['../escape.txt', 'a/../../escape.txt', '/escape.txt']) {
    const t = fresh();
    const archive = await makeTar([
      { name: 'ok', body: 'x' },
      { name, body: 'evil' },
    ]);
    await rejects(() => unpackContext(chunks(archive), t.dest, LIMITS), 'UNSAFE_PATH');
    assert.not.ok(existsSync(join(t.base, 'escape.txt')), name);
    t.done();
  }
});

test('unpackContext() refuses to write through a symlink the archive planted', async () => {
  const t = fresh();
  const archive = await makeTar([
    { name: 'out', type: 'symlink', linkname: '..' },
    { name: 'out/escape.txt', body: 'evil' },
  ]);
  await rejects(() => unpackContext(chunks(archive), t.dest, LIMITS), 'UNSAFE_PATH');
  assert.not.ok(existsSync(join(t.base, 'escape.txt')));
  t.done();
});

test("unpackContext() sets a directory entry's mode and times on its own entry, never through a symlink of that name", async () => {
  for (const order of ['symlink first', 'directory first']) {
    const t = fresh();
    const victim = join(t.base, 'victim');
    mkdirSync(victim, { mode: 0o700 });
    const before = statSync(victim);
    const link = { name: 'l', type: 'symlink' as const, linkname: victim };
    const dir = { name: 'l/', type: 'directory' as const, mode: 0o777 };
    await unpackContext(chunks(await makeTar(order === 'symlink first' ? [link, dir] : [dir, link])), t.dest, LIMITS);
    const after = statSync(victim);
    assert.is(after.mode, before.mode, `${order}: the symlink's target was chmodded`);
    assert.is(after.mtimeMs, before.mtimeMs, `${order}: the symlink's target got the entry's times`);
    assert.is(lstatSync(join(t.dest, 'l')).isDirectory(), order === 'symlink first', order);
    t.done();
  }
});

test('unpackContext() stops at the size limit with PAYLOAD_TOO_LARGE', async () => {
  const t = fresh();
  const archive = await makeTar([{ name: 'big', body: Buffer.alloc(200_000, 7) }]);
  await rejects(() => unpackContext(chunks(archive), t.dest, { maxBytes: 50_000 }), 'PAYLOAD_TOO_LARGE');
  t.done();
});

test('unpackContext() counts the size after decompression (a gzip bomb stops at the limit)', async () => {
  const t = fresh();
  const archive = gzipSync(await makeTar([{ name: 'zeros', body: Buffer.alloc(5_000_000) }]));
  assert.ok(archive.length < 50_000);
  await rejects(() => unpackContext(chunks(archive), t.dest, { maxBytes: 1_000_000 }), 'PAYLOAD_TOO_LARGE');
  t.done();
});

test.run();
