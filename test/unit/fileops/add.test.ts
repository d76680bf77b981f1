import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { getXattrs, setXattr } from '../../../src/native/fsx.js';
import { createServer, type Server } from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { addFiles } from '../../../src/builder/fileops/add.js';
import { detectArchive } from '../../../src/builder/fileops/archive.js';
import { download, urlFileName } from '../../../src/builder/fileops/http-source.js';
import { copyHeredocs } from '../../../src/builder/fileops/heredoc.js';
import { rejects } from '../../helpers/assert.js';
import { caseContext, cleanup, listing, read, tempDir } from './fixtures.js';

test.after.each(cleanup);

test('bc-add-archive-1/3/7: archives named as sources are extracted; inside a copied directory they are not', async () => {
  const ctx = caseContext('bc-add-archive-1');
  const r1 = tempDir('dest');
  await addFiles({ srcRoot: ctx, sources: ['.'], destRoot: r1, dest: '.' });
  assert.ok(lstatSync(join(r1, 'sub/subdirectory.tar.gz')).isFile());
  const r3 = tempDir('dest');
  await addFiles({ srcRoot: ctx, sources: ['sub/subdirectory.tar.gz'], destRoot: r3, dest: '/' });
  assert.equal(readdirSync(join(r3, 'subdirectory')).sort(), ['archival.txt', 'archived.txt']);
  assert.is(statSync(join(r3, 'subdirectory/archival.txt')).mode & 0o777, 0o664);
  assert.is(new Date(statSync(join(r3, 'subdirectory/archival.txt')).mtimeMs).getUTCFullYear(), 2020, 'times come from the archive');
  assert.is(new Date(statSync(join(r3, 'subdirectory')).mtimeMs).getUTCFullYear(), 2020, 'directory times are set after their contents');
  const r7 = tempDir('dest');
  await addFiles({ srcRoot: ctx, sources: ['sub/*'], destRoot: r7, dest: '/sub/' });
  assert.equal(readdirSync(join(r7, 'sub')), ['subdirectory']);
});

test('bc-add-dir-not-dir / populated-dir-not-dir: an archive file replaces an existing directory', async () => {
  for (const name of ['bc-add-dir-not-dir', 'bc-add-populated-dir-not-dir']) {
    const ctx = caseContext(name);
    const root = tempDir('dest');
    const victim = name === 'bc-add-dir-not-dir' ? 'fileone' : 'dirone';
    mkdirSync(join(root, victim));
    writeFileSync(join(root, victim, 'onefile.txt'), 'one');
    await addFiles({ srcRoot: ctx, sources: ['test.tar'], destRoot: root, dest: '/' });
    assert.ok(lstatSync(join(root, victim)).isFile(), `${name}: ${victim} is now a file`);
  }
});

test('bc-add-parent-symlink: an archive symlink to .. resolves inside the destination directory', async () => {
  const ctx = caseContext('bc-add-parent-symlink');
  const root = tempDir('dest');
  await addFiles({ srcRoot: ctx, sources: ['foobar.tar'], destRoot: root, dest: '/testsubdir' });
  assert.is(readlinkSync(join(root, 'testsubdir/symldir1')), '..');
  assert.ok(existsSync(join(root, 'testsubdir/etc/myfile')));
});

test('archives are recognised by content for plain, gzip, bzip2, xz and zstd; names do not matter', async () => {
  const ctx = tempDir('ctx');
  mkdirSync(join(ctx, 'payload/d'), { recursive: true });
  writeFileSync(join(ctx, 'payload/d/hello.txt'), 'hello');
  execFileSync('tar', ['-C', join(ctx, 'payload'), '-cf', join(ctx, 'plain.bin'), 'd']);
  const kinds: Record<string, string[]> = { gzip: ['gzip', '-c'], bzip2: ['bzip2', '-c'], xz: ['xz', '-c'], zstd: ['zstd', '-q', '-c'] };
  for (const [kind, cmd] of Object.entries(kinds)) {
    writeFileSync(join(ctx, `${kind}.data`), execFileSync(cmd[0], [...cmd.slice(1), join(ctx, 'plain.bin')]));
  }
  writeFileSync(join(ctx, 'fake.tar.gz'), 'not an archive at all, just text with a misleading name');
  writeFileSync(join(ctx, 'gz-not-tar'), execFileSync('gzip', ['-c'], { input: 'plain text' }));
  for (const kind of ['plain.bin', 'gzip.data', 'bzip2.data', 'xz.data', 'zstd.data']) {
    const root = tempDir('dest');
    await addFiles({ srcRoot: ctx, sources: [kind], destRoot: root, dest: '/x/' });
    assert.is(read(root, 'x/d/hello.txt'), 'hello', kind);
  }
  assert.is(await detectArchive(join(ctx, 'fake.tar.gz')), undefined);
  assert.is(await detectArchive(join(ctx, 'gz-not-tar')), undefined);
  const root = tempDir('dest');
  await addFiles({ srcRoot: ctx, sources: ['fake.tar.gz', 'gz-not-tar'], destRoot: root, dest: '/y/' });
  assert.equal(readdirSync(join(root, 'y')).sort(), ['fake.tar.gz', 'gz-not-tar']);
  const r2 = tempDir('dest');
  await addFiles({ srcRoot: ctx, sources: ['gzip.data'], destRoot: r2, dest: '/z/', unpack: false });
  assert.ok(lstatSync(join(r2, 'z/gzip.data')).isFile(), '--unpack=false copies the archive as is');
});

test('ADD: a "./" first entry leaves the existing destination\'s mode; binary xattr values survive byte for byte', async () => {
  const src = tempDir('src');
  writeFileSync(join(src, 'f'), 'x');
  const high = Buffer.from(Array.from({ length: 128 }, (_, i) => 0x80 + i));
  setXattr(join(src, 'f'), 'user.high', high); // user xattrs: unprivileged, on ext4/xfs/btrfs/tmpfs
  chmodSync(src, 0o700);
  const ctx = tempDir('ctx');
  execFileSync('tar', ['--xattrs', '--xattrs-include=user.*', '-C', src, '-cf', join(ctx, 'dot.tar'), '.']);
  const root = tempDir('dest');
  mkdirSync(join(root, 'dst'));
  chmodSync(join(root, 'dst'), 0o755);
  await addFiles({ srcRoot: ctx, sources: ['dot.tar'], destRoot: root, dest: '/dst/' });
  assert.is(statSync(join(root, 'dst')).mode & 0o7777, 0o755, 'the "./" entry\'s 0700 is not applied (moby Unpack skips ".")');
  assert.is(read(root, 'dst/f'), 'x');
  assert.is(getXattrs(join(root, 'dst/f'))?.['user.high']?.toString('hex'), high.toString('hex'));
});

function serve(files: Record<string, Buffer>): Promise<{ server: Server; base: string }> {
  return new Promise((resolve) => {
    const server = createServer((req, res) => {
      const body = files[req.url ?? ''];
      if (!body) {
        res.statusCode = 404;
        res.end();
        return;
      }
      res.setHeader('Last-Modified', 'Wed, 21 Oct 2015 07:28:00 GMT');
      res.end(body);
    });
    server.listen(0, '127.0.0.1', () => resolve({ server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
  });
}

test("ADD <url>: downloaded as the URL's base name (dir dest) or as the dest, 0600, Last-Modified mtime, not extracted", async () => {
  const ctx = tempDir('ctx');
  mkdirSync(join(ctx, 'd'));
  writeFileSync(join(ctx, 'd/a'), 'a');
  execFileSync('tar', ['-C', ctx, '-czf', join(ctx, 'a.tar.gz'), 'd']);
  const tgz = readFileSync(join(ctx, 'a.tar.gz'));
  const { server, base } = await serve({ '/files/app.tar.gz': tgz, '/plain': Buffer.from('plain') });
  try {
    const root = tempDir('dest');
    const tmpDir = tempDir('tmp');
    await addFiles({ srcRoot: ctx, sources: [`${base}/files/app.tar.gz`], destRoot: root, dest: '/dl/', tmpDir, unpack: true });
    const st = statSync(join(root, 'dl/app.tar.gz'));
    assert.is(st.mode & 0o777, 0o600);
    assert.is(st.mtimeMs, Date.UTC(2015, 9, 21, 7, 28));
    assert.ok(readFileSync(join(root, 'dl/app.tar.gz')).equals(tgz), 'remote archives stay archives (unpack is for local sources)');
    await addFiles({ srcRoot: ctx, sources: [`${base}/files/app.tar.gz`], destRoot: root, dest: '/ex/', tmpDir, unpackUrls: true });
    assert.is(read(root, 'ex/d/a'), 'a', '--unpack=true extracts a remote archive');
    await addFiles({ srcRoot: ctx, sources: [`${base}/plain`], destRoot: root, dest: '/named', tmpDir, chmod: '644' });
    assert.is(read(root, 'named'), 'plain');
    assert.is(statSync(join(root, 'named')).mode & 0o777, 0o644);
    const good = `sha256:${createHash('sha256').update('plain').digest('hex')}`;
    await addFiles({ srcRoot: ctx, sources: [`${base}/plain`], destRoot: root, dest: '/checked', tmpDir, checksum: good });
    await rejects(
      () => addFiles({ srcRoot: ctx, sources: [`${base}/plain`], destRoot: root, dest: '/bad', tmpDir, checksum: `sha256:${'0'.repeat(64)}` }),
      'CHECKSUM_MISMATCH',
    );
    assert.not.ok(existsSync(join(root, 'bad')));
    await rejects(() => download(`${base}/missing`, { tmpDir }), 'DOWNLOAD_FAILED', /404/);
    assert.equal(readdirSync(tmpDir), [], 'temp downloads are removed');
    await rejects(() => addFiles({ srcRoot: ctx, sources: ['d/a'], destRoot: root, dest: '/x', checksum: good }), 'DOCKERFILE_BAD_FLAG');
  } finally {
    server.close();
  }
});

test("urlFileName() uses the path's last component, else __unnamed__", () => {
  assert.is(urlFileName('https://example.com/a/b.tgz?x=1'), 'b.tgz');
  assert.is(urlFileName('https://example.com/'), '__unnamed__');
});

test('heredoc sources become 0644 files named after the delimiter, with --chmod applied', async () => {
  const root = tempDir('dest');
  const tmpDir = tempDir('tmp');
  await copyHeredocs({ heredocs: [{ name: 'EOF', content: 'hello\n' }], destRoot: root, dest: '/etc/motd', tmpDir });
  assert.is(listing(root)['/etc/motd'], 'f 644 hello\n');
  await copyHeredocs({
    heredocs: [
      { name: 'run.sh', content: '#!/bin/sh\n' },
      { name: 'b', content: 'b' },
    ],
    destRoot: root,
    dest: '/bin/',
    tmpDir,
    chmod: '755',
  });
  assert.is(listing(root)['/bin/run.sh'], 'f 755 #!/bin/sh\n');
  assert.is(listing(root)['/bin/b'], 'f 755 b');
});

test.run();
