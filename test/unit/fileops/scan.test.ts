import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { byteOrder, scanDirectory, scanDirectoryAsync, type ScannedEntry } from '../../../src/builder/fileops/scan.js';

const dir = mkdtempSync(join(tmpdir(), 'kiln-scan-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('a scan gives the names in byte order and the same lstat as Node, to the bit', () => {
  writeFileSync(join(dir, 'b.txt'), 'bee');
  writeFileSync(join(dir, 'B.txt'), 'Bee');
  writeFileSync(join(dir, 'é.txt'), 'e');
  writeFileSync(join(dir, 'a'), '');
  mkdirSync(join(dir, 'sub'));
  symlinkSync('/etc/passwd', join(dir, 'link'));
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  const scanned = scanDirectory(dir);
  assert.ok(scanned, 'the native helper is built (bash native/build.sh)');
  assert.equal(
    scanned.map((e) => e.name),
    readdirSync(dir).sort(byteOrder),
  );
  for (const { name, st } of scanned) {
    const node = lstatSync(join(dir, name));
    for (const k of ['dev', 'ino', 'mode', 'nlink', 'uid', 'gid', 'rdev', 'size', 'atimeMs', 'mtimeMs', 'ctimeMs'] as const) {
      assert.is(st[k], node[k], `${name}: ${k}`);
    }
    for (const m of ['isFile', 'isDirectory', 'isSymbolicLink', 'isFIFO', 'isCharacterDevice', 'isBlockDevice', 'isSocket'] as const) {
      assert.is(st[m](), node[m](), `${name}: ${m}`);
    }
  }
  const link = scanned.find((e) => e.name === 'link')!;
  assert.ok(link.st.isSymbolicLink(), 'a symlink is not followed');
});

test('a directory named through a symlink is refused, not followed', () => {
  symlinkSync(dir, join(dir, 'sub', 'up'));
  assert.throws(
    () => scanDirectory(join(dir, 'sub', 'up')),
    (e: NodeJS.ErrnoException) => e.code === 'ELOOP' || e.code === 'ENOTDIR',
  );
  assert.throws(
    () => scanDirectory(join(dir, 'missing')),
    (e: NodeJS.ErrnoException) => e.code === 'ENOENT' && /missing/.test(e.message),
  );
});

test('a scan on a worker thread gives what the synchronous one does, and rejects as it throws', async () => {
  // Reading a directory can move its atime (relatime): compared without it.
  const plain = (entries: ScannedEntry[] | undefined) => entries?.map(({ name, st }) => ({ name, st: { ...st, atimeMs: 0 } }));
  assert.equal(plain(await scanDirectoryAsync(dir)), plain(scanDirectory(dir)));
  const scans = await Promise.all([dir, join(dir, 'sub')].map((d) => scanDirectoryAsync(d)));
  assert.equal(scans.map(plain), [plain(scanDirectory(dir)), plain(scanDirectory(join(dir, 'sub')))], 'side by side');
  const code = (p: string) =>
    scanDirectoryAsync(p).then(
      () => 'resolved',
      (e: NodeJS.ErrnoException) => `${e.code} ${e.syscall} ${e.path === p}`,
    );
  assert.match(await code(join(dir, 'sub', 'up')), /^(ELOOP|ENOTDIR) scandir true$/, 'a symlinked directory is refused');
  assert.is(await code(join(dir, 'missing')), 'ENOENT scandir true');
});

test.run();
