import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, symlinkSync, linkSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeHeader, type TarEntry } from '../../../src/tar/header.js';
import { readTar } from '../../../src/tar/reader.js';
import { packTar, type TarInput } from '../../../src/tar/writer.js';
import { rejects } from '../../helpers/assert.js';

async function collect(s: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c);
  return Buffer.concat(parts);
}

async function readAll(tar: Buffer, chunk = 0): Promise<Array<{ entry: TarEntry; data: Buffer }>> {
  const pieces: Buffer[] = [];
  if (chunk) for (let i = 0; i < tar.length; i += chunk) pieces.push(tar.subarray(i, i + chunk));
  else pieces.push(tar);
  const out = [];
  for await (const { entry, body } of readTar(Readable.from(pieces))) out.push({ entry, data: await collect(body) });
  return out;
}

/** security.capability for cap_net_bind_service+ep: binary, with NULs and high bytes. */
const CAP = Buffer.from('0100000200040000000000000000000000000000', 'hex');
const longDir = 'd'.repeat(120) + '/' + 'e'.repeat(60);
const noSplit = 'n'.repeat(180);

function sampleEntries(): TarInput[] {
  return [
    { name: 'bin', type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 1700000000 },
    {
      name: 'bin/ping',
      type: 'file',
      mode: 0o4755,
      uid: 0,
      gid: 0,
      size: 5,
      mtime: 1700000001,
      data: Buffer.from('ping\n'),
      xattrs: { 'security.capability': CAP, 'user.empty': Buffer.alloc(0), 'user.nl': Buffer.from('a\nb=c\0') },
    },
    { name: 'bin/pong', type: 'link', mode: 0o4755, uid: 0, gid: 0, size: 0, mtime: 1700000001, linkname: 'bin/ping' },
    { name: 'nobody', type: 'file', mode: 0o600, uid: 4294967294, gid: 4294967294, size: 0, mtime: 1700000002 },
    { name: `${longDir}/file.txt`, type: 'file', mode: 0o644, uid: 1000, gid: 1000, size: 700, mtime: 1700000003, data: Buffer.alloc(700, 7) },
    { name: noSplit, type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, mtime: 1700000004, linkname: '/' + 'x'.repeat(150) },
    { name: 'dev/null', type: 'char', mode: 0o666, uid: 0, gid: 0, size: 0, mtime: 0, devmajor: 1, devminor: 3 },
    { name: 'fifo', type: 'fifo', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 5 },
    { name: 'ünïcødé', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 3, mtime: 6, data: Buffer.from('abc') },
    { name: 'future', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 2 ** 34 },
  ];
}

test('packTar/readTar round-trip binary xattrs, uid 4294967294, long names and links, devices', async () => {
  const input = sampleEntries();
  const tar = await collect(packTar(input));
  assert.is(tar.length % 512, 0);
  for (const chunk of [0, 1, 511, 4096]) {
    const got = await readAll(tar, chunk);
    assert.is(got.length, input.length);
    for (let i = 0; i < input.length; i++) {
      const { data: want, source: _s, ...meta } = input[i]!;
      const { entry, data } = got[i]!;
      assert.equal(
        { ...entry, xattrs: entry.xattrs && Object.fromEntries(Object.entries(entry.xattrs).map(([k, v]) => [k, v.toString('hex')])) },
        { ...meta, xattrs: meta.xattrs && Object.fromEntries(Object.entries(meta.xattrs).map(([k, v]) => [k, v.toString('hex')])) },
        `entry ${i} (chunk ${chunk})`,
      );
      assert.ok(data.equals(want ?? Buffer.alloc(0)), `data ${i}`);
    }
  }
});

test('GNU tar reads what packTar writes: names, owners, xattrs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-tar-'));
  try {
    writeFileSync(join(dir, 'a.tar'), await collect(packTar(sampleEntries())));
    const list = execFileSync('tar', ['--numeric-owner', '-tvf', join(dir, 'a.tar')], { encoding: 'utf8' });
    assert.match(list, `${longDir}/file.txt`);
    assert.match(list, /4294967294\/4294967294/);
    assert.match(list, new RegExp(`${noSplit} -> /x{150}`));
    assert.match(list, /-rwsr-xr-x 0\/0 +5 .* bin\/ping/);
    const x = execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-xf', join(dir, 'a.tar'), '-C', dir, 'bin/ping'], { encoding: 'utf8' });
    assert.is(x, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('readTar reads GNU tar archives in gnu and posix formats (long names, hardlinks)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-tar-'));
  try {
    const src = join(dir, 'src');
    const deep = join(src, 'a'.repeat(90), 'b'.repeat(90));
    mkdirSync(deep, { recursive: true });
    writeFileSync(join(deep, 'c'.repeat(120)), 'hello');
    linkSync(join(deep, 'c'.repeat(120)), join(src, 'hard'));
    symlinkSync('t'.repeat(130), join(src, 'sym'));
    utimesSync(join(src, 'hard'), 1600000000, 1600000000);
    for (const format of ['gnu', 'posix', 'ustar']) {
      let tar: Buffer;
      try {
        tar = execFileSync('tar', ['-c', `--format=${format}`, '-C', src, '--sort=name', '.'], { maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'ignore'] });
      } catch {
        assert.is(format, 'ustar', 'only ustar may refuse long names');
        continue;
      }
      const got = await readAll(tar, 100);
      const names = got.map((g) => g.entry.name);
      const file = `./${'a'.repeat(90)}/${'b'.repeat(90)}/${'c'.repeat(120)}`;
      assert.ok(names.includes(file), `${format}: ${names.join(',')}`);
      const hard = got.find((g) => g.entry.name === './hard')!;
      const main = got.find((g) => g.entry.name === file)!;
      // Whichever comes first carries the data; the other is a hardlink to it.
      const [first, second] = names.indexOf(file) < names.indexOf('./hard') ? [main, hard] : [hard, main];
      assert.is(first.entry.type, 'file');
      assert.is(first.data.toString(), 'hello');
      assert.is(second.entry.type, 'link');
      assert.is(second.entry.linkname, first.entry.name);
      assert.is(got.find((g) => g.entry.name === './sym')!.entry.linkname, 't'.repeat(130));
      assert.is(first.entry.mtime, 1600000000);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('readTar rejects a corrupt header and a truncated archive', async () => {
  const tar = await collect(packTar(sampleEntries()));
  const bad = Buffer.from(tar);
  bad[10] ^= 0xff;
  await rejects(() => readAll(bad), 'ARCHIVE_INVALID', /checksum/);
  await rejects(() => readAll(tar.subarray(0, 1536 + 100)), 'ARCHIVE_INVALID', /truncated/);
});

test('readTar on 500 mutated archives either reads them or fails with ARCHIVE_INVALID, never crashes', async () => {
  const tar = await collect(packTar(sampleEntries()));
  let seed = 42;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let i = 0; i < 500; i++) {
    const m = Buffer.from(tar);
    const flips = 1 + rand(8);
    for (let j = 0; j < flips; j++) m[rand(Math.min(m.length, 4096))] = rand(256);
    const cut = rand(4) === 0 ? m.subarray(0, rand(m.length)) : m;
    try {
      await readAll(cut, 1 + rand(1000));
    } catch (err) {
      assert.is((err as { code?: string }).code, 'ARCHIVE_INVALID', `mutation ${i}: ${(err as Error).stack}`);
    }
  }
});

test('encodeHeader is deterministic and emits PAX only when ustar cannot hold a field', () => {
  const e: TarEntry = { name: 'etc/passwd', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 10, mtime: 1 };
  assert.is(encodeHeader(e).length, 512);
  assert.ok(encodeHeader(e).equals(encodeHeader({ ...e })));
  assert.is(encodeHeader({ ...e, uid: 2097152 }).length, 512 * 3);
  assert.is(encodeHeader({ ...e, name: 'p/'.repeat(60) + 'f' }).length, 512, 'a long path splits into prefix and name');
});

test('packTar reads file contents from disk, small and large', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-tar-'));
  try {
    const small = Buffer.alloc(1000, 1),
      big = Buffer.alloc(3 * 1024 * 1024 + 5, 2);
    writeFileSync(join(dir, 's'), small);
    writeFileSync(join(dir, 'b'), big);
    const entries: TarInput[] = [];
    for (let i = 0; i < 1500; i++)
      entries.push({ name: `s${i}`, type: 'file', mode: 0o644, uid: 0, gid: 0, size: small.length, mtime: 0, source: join(dir, 's') });
    entries.push({ name: 'b', type: 'file', mode: 0o644, uid: 0, gid: 0, size: big.length, mtime: 0, source: join(dir, 'b') });
    const got = await readAll(await collect(packTar(entries)));
    assert.is(got.length, 1501);
    assert.ok(got[1499]!.data.equals(small));
    assert.ok(got[1500]!.data.equals(big));
    await rejects(() => collect(packTar([{ ...entries[0]!, size: 2000 }])), 'PRECONDITION', /changed size/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('packTar streams a body of known size and refuses one that yields more or fewer bytes', async () => {
  const file = (name: string, size: number, chunks: Buffer[]): TarInput => ({
    name,
    type: 'file',
    size,
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: 0,
    stream: Readable.from(chunks),
  });
  const body = Buffer.alloc(300 * 1024, 7);
  const tar = await collect(packTar([file('big', body.length, [body.subarray(0, 1000), body.subarray(1000)]), file('empty', 0, [])]));
  const got = await readAll(tar, 4096);
  assert.equal(
    got.map((e) => [e.entry.name, e.data.length]),
    [
      ['big', body.length],
      ['empty', 0],
    ],
  );
  assert.ok(got[0]!.data.equals(body));
  await rejects(() => collect(packTar([file('short', 10, [Buffer.alloc(9)])])), 'PRECONDITION', /ended after 9 of 10 bytes/);
  await rejects(() => collect(packTar([file('long', 10, [Buffer.alloc(6), Buffer.alloc(6)])])), 'PRECONDITION', /more than the 10 bytes/);
  // A zero-size entry's stream is read too: bytes there would be lost from the archive.
  await rejects(() => collect(packTar([file('zero', 0, [Buffer.alloc(1)])])), 'PRECONDITION', /more than the 0 bytes/);
});

test.run();
