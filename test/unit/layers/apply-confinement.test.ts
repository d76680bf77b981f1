import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { applyLayer } from '../../../src/cache/apply-layer.js';
import { packTar, type TarInput } from '../../../src/tar/writer.js';
import { checksum } from '../../../src/tar/header.js';
import { parseNumber } from '../../../src/tar/reader.js';
import { rejects } from '../../helpers/assert.js';
import { isRoot, skipIf } from '../../helpers/skip.js';

let box: string, dest: string, outside: string;
test.before.each(() => {
  box = mkdtempSync(join(tmpdir(), 'kiln-confine-'));
  dest = join(box, 'root');
  outside = join(box, 'outside');
  mkdirSync(dest);
  mkdirSync(outside);
});
test.after.each(() => rmSync(box, { recursive: true, force: true }));

const file = (name: string, text = 'pwned'): TarInput => ({
  name,
  type: 'file',
  mode: 0o644,
  uid: process.getuid!(),
  gid: process.getgid!(),
  size: text.length,
  mtime: 0,
  data: Buffer.from(text),
});
const symlink = (name: string, linkname: string): TarInput => ({
  name,
  type: 'symlink',
  mode: 0o777,
  uid: process.getuid!(),
  gid: process.getgid!(),
  size: 0,
  mtime: 0,
  linkname,
});
const hardlink = (name: string, linkname: string): TarInput => ({ name, type: 'link', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0, linkname });
const apply = (entries: TarInput[]) => applyLayer(packTar(entries), dest);

test('a member climbing out with ../ is refused and nothing lands outside', async () => {
  await rejects(() => apply([file('../outside/evil')]), 'UNSAFE_PATH');
  await rejects(() => apply([file('a/../../outside/evil')]), 'UNSAFE_PATH');
  assert.equal(readdirSync(outside), []);
});

test('absolute member names land inside the target', async () => {
  await apply([file(`/${outside.slice(1)}/abs`, 'inside')]);
  assert.equal(readdirSync(outside), []);
  assert.is(readFileSync(join(dest, outside, 'abs'), 'utf8'), 'inside');
});

test('a symlink planted by an earlier member is followed inside the target, never out', async () => {
  await apply([
    symlink('abs', outside),
    file('abs/evil1'),
    symlink('rel', '../../../../../../..' + outside),
    file('rel/evil2'),
    symlink('up', '..'),
    file('up/up/evil3'),
  ]);
  assert.equal(readdirSync(outside), []);
  assert.is(readFileSync(join(dest, outside, 'evil1'), 'utf8'), 'pwned', 'absolute link target resolved under the root');
  assert.is(readFileSync(join(dest, outside, 'evil2'), 'utf8'), 'pwned');
  assert.is(readFileSync(join(dest, 'evil3'), 'utf8'), 'pwned', '.. stops at the root');
  assert.ok(lstatSync(join(dest, 'abs')).isSymbolicLink(), 'the symlink itself is kept');
});

test('a file member replacing a symlink replaces the link, it does not write through it', async () => {
  await apply([symlink('passwd', join(outside, 'target')), file('passwd', 'new')]);
  assert.not.ok(existsSync(join(outside, 'target')));
  assert.ok(lstatSync(join(dest, 'passwd')).isFile());
});

test('a hardlink to a file outside the target is refused', async () => {
  await rejects(() => apply([hardlink('h', '../outside/secret')]), 'UNSAFE_PATH');
  await rejects(() => apply([symlink('s', outside), hardlink('h2', 's/secret')]), 'ARCHIVE_INVALID');
  await rejects(() => apply([hardlink('h3', 'nothing-here')]), 'ARCHIVE_INVALID', /does not contain/);
  assert.equal(readdirSync(outside), []);
});

{
  const test = skipIf(!isRoot, 'needs root (trusted.* xattrs)');
  test('overlayfs attributes in an archive are dropped (a crafted redirect cannot reach other paths)', async () => {
    const { getXattrs } = await import('../../../src/native/fsx.js');
    await apply([
      {
        ...file('d', ''),
        type: 'dir',
        size: 0,
        data: undefined,
        mode: 0o755,
        xattrs: { 'trusted.overlay.redirect': Buffer.from('/etc'), 'user.ok': Buffer.from('1') },
      },
    ]);
    assert.equal(Object.keys(getXattrs(join(dest, 'd')) ?? {}), ['user.ok']);
  });
}

test('a symlink loop fails cleanly', async () => {
  await rejects(() => apply([symlink('a', 'b'), symlink('b', 'a'), file('a/x')]), 'UNSAFE_PATH', /too many symlinks/);
});

test('applyLayer on 200 mutated layers fails only with KilnErrors and never writes outside the target', async () => {
  const { symlinkSync } = await import('node:fs');
  symlinkSync(outside, join(box, 'link-out'));
  const tar = Buffer.concat(
    await packTar([
      { ...file('dir/a', 'aaaa'), mode: 0o4755 },
      symlink('dir/s', '../../link-out'),
      hardlink('dir/h', 'dir/a'),
      file('dir/s2/x'),
      file('.wh.zz'),
      file('dir/.wh..wh..opq'),
      { name: 'dir/d', type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0 },
      file('p'.repeat(150) + '/q', 'long'),
    ]).toArray(),
  );
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  // Header blocks of the original; mutations land in their name, mode, type and link fields and the
  // checksum is fixed afterwards, so the reader accepts the header and the applier sees the damage.
  const headers: number[] = [];
  for (let off = 0; off + 512 <= tar.length - 1024; off += 512) if (checksum(tar, off) === parseNumber(tar, off + 148, 8)) headers.push(off);
  const fields = [
    [0, 100],
    [100, 8],
    [156, 1],
    [157, 100],
  ] as const;
  const counts = { ok: 0, failed: 0 };
  for (let i = 0; i < 200; i++) {
    const m = Buffer.from(tar);
    for (let j = 0, n = 1 + rand(4); j < n; j++) {
      const h = headers[rand(headers.length)]!;
      const [start, len] = fields[rand(fields.length)]!;
      m[h + start + rand(len)] = [0x2e, 0x2f, 0x00, 0x31, 0x32, 0x35, 0x36, 0x37, rand(256)][rand(9)]!;
    }
    for (const h of headers) {
      m.fill(0x20, h + 148, h + 156);
      m.write(checksum(m, h).toString(8).padStart(6, '0') + '\0 ', h + 148, 8, 'latin1');
    }
    const target = join(box, `t${i}`);
    mkdirSync(target);
    try {
      await applyLayer(Readable.from([m]), target, { whiteouts: 'delete' });
      counts.ok++;
    } catch (err) {
      assert.ok((err as any).code && (err as any).name === 'KilnError', `mutation ${i}: ${(err as Error).stack}`);
      counts.failed++;
    }
  }
  assert.equal(readdirSync(outside), []);
  assert.ok(counts.ok > 20 && counts.failed > 3, `both outcomes exercised: ${JSON.stringify(counts)}`);
});

test('a truncated layer fails with ARCHIVE_INVALID', async () => {
  const tar = Buffer.concat(await packTar([file('x', 'y'.repeat(2000))]).toArray());
  await rejects(() => applyLayer(Readable.from([tar.subarray(0, 1200)]), dest), 'ARCHIVE_INVALID', /truncated/);
});

test.run();
