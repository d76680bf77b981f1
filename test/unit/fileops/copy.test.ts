import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { copyFiles, resolveDest, type CopyOptions } from '../../../src/builder/fileops/copy.js';
import { createPatternMatcher } from '../../../src/builder/fileops/patterns.js';
import { rejects } from '../../helpers/assert.js';
import { caseContext, cleanup, listing, read, tempDir } from './fixtures.js';

test.after.each(cleanup);

/** Runs COPY steps in order, like consecutive instructions on one rootfs. */
async function copySteps(ctx: string, dest: string, steps: Array<[string[], string, Partial<CopyOptions>?]>): Promise<void> {
  for (const [sources, to, extra] of steps) {
    await copyFiles({ srcRoot: ctx, sources, destRoot: dest, dest: to, ownership: 'reset', ...extra });
  }
}

test('resolveDest() joins WORKDIR and treats a trailing slash or "." as a directory', () => {
  assert.equal(resolveDest('foo', '/app'), { path: '/app/foo', isDir: false });
  assert.equal(resolveDest('foo/', '/app'), { path: '/app/foo', isDir: true });
  assert.equal(resolveDest('.', '/app'), { path: '/app', isDir: true });
  assert.equal(resolveDest('/x/../y', '/app'), { path: '/y', isDir: false });
});

test('kn-copy: files, directory contents, wildcards, trailing slashes, escapes follow BuildKit', async () => {
  const ctx = caseContext('kn-copy');
  const root = tempDir('dest');
  await copySteps(ctx, root, [
    [['context/foo'], 'foo'],
    [['context/foo'], '/foodir/'],
    [['context/bar/b*'], 'bar/'],
    [['context/fo?'], '/foo2'],
    [['context/bar/doesnotexist*', 'context/foo'], 'hello/'],
    [['./context/empty'], '/empty'],
    [['context/bar'], '/baz/'],
    [['context/q*'], '/qux/'],
    [['context/foo', 'context/bar/ba?'], '/test/'],
    [['context/arr[[]0].txt'], '/mydir/'],
    [['context/bar/bat'], '.'],
  ]);
  assert.is(read(root, 'foo'), 'foo\n'.trimEnd() + (read(ctx, 'context/foo').endsWith('\n') ? '\n' : ''));
  assert.is(read(root, 'foodir/foo'), read(ctx, 'context/foo'));
  // b* matches bam (a directory: its contents), bat, baz — in that order, so bat is the file's, not bam/bat's.
  assert.equal(readdirSync(join(root, 'bar')).sort(), ['bat', 'baz']);
  assert.is(read(root, 'foo2'), read(ctx, 'context/foo'));
  assert.equal(readdirSync(join(root, 'hello')), ['foo']);
  assert.equal(readdirSync(join(root, 'empty')), ['.gitignore']);
  assert.equal(readdirSync(join(root, 'baz')).sort(), ['bam', 'bat', 'baz']);
  assert.ok(lstatSync(join(root, 'baz/bam')).isDirectory());
  assert.equal(readdirSync(join(root, 'qux')).sort(), readdirSync(join(ctx, 'context/qux')).sort());
  // ba? matches bam (a directory: only its contents, bat, land in /test/), bat and baz.
  assert.equal(readdirSync(join(root, 'test')).sort(), ['bat', 'baz', 'foo']);
  assert.equal(readdirSync(join(root, 'mydir')), ['arr[0].txt']);
  assert.is(read(root, 'bat'), read(ctx, 'context/bar/bat'));
});

test('bc-copy-escape-glob: [[] and \\? \\* are literal; a directory match copies its contents', async () => {
  const ctx = caseContext('bc-copy-escape-glob');
  const root = tempDir('dest');
  const w = { workdir: '/app' };
  await copySteps(ctx, root, [
    [['./app/[[]xyz]/file.txt'], '/app/', w],
    [['./app/[[]xyz]/[[]abc]/file.txt'], '/app2/', w],
    [['./app/*'], '/app3/', w],
    [['./app/n\\?pe/file.txt'], '/app4/file.txt', w],
    [['./app/st\\*uv/file.txt'], '/app5/file.txt', w],
  ]);
  const ref = listing(join(ctx, '.ref'));
  const got = listing(root);
  for (const dir of ['app', 'app2', 'app3', 'app4', 'app5']) {
    for (const [k, v] of Object.entries(ref)) {
      if (!k.startsWith(`/${dir}/`)) continue;
      // Compare type and content; the reference tree's own modes are only set for app4/app5 by prepare.sh.
      assert.is(got[k]?.[0], v[0], k);
      // (the reference files were stored without their final newline)
      if (v.startsWith('f')) assert.is(read(root, k).trimEnd(), read(join(ctx, '.ref'), k).trimEnd(), k);
    }
  }
  assert.is(got['/app4/file.txt'], 'f 600 and also');
  assert.is(got['/app5/file.txt'], 'f 600 and yet');
});

test('bc-copyglob-1: "**/*.txt" is Go\'s two-component match (dot directories included)', async () => {
  const ctx = caseContext('bc-copyglob-1');
  const root = tempDir('dest');
  await copyFiles({ srcRoot: ctx, sources: ['**/*.txt'], destRoot: root, dest: '/' });
  const expected = new Set<string>();
  for (const d of readdirSync(ctx)) {
    if (!statSync(join(ctx, d)).isDirectory()) continue;
    for (const f of readdirSync(join(ctx, d))) if (f.endsWith('.txt') && statSync(join(ctx, d, f)).isFile()) expected.add(f);
  }
  assert.ok(expected.size > 0);
  assert.equal(new Set(readdirSync(root)), expected);
});

test('a missing plain source fails; a wildcard matching nothing is allowed (bc-copy-multiple-some-missing*)', async () => {
  const ctx = caseContext('bc-copy-multiple-some-missing');
  const root = tempDir('dest');
  await rejects(
    () => copyFiles({ srcRoot: ctx, sources: ['file-a.txt', 'subdir-a', 'file-z.txt', 'subdir-z'], destRoot: root, dest: 'subdir/' }),
    'COPY_SOURCE_NOT_FOUND',
    /subdir-a/,
  );
  const ctx2 = caseContext('bc-copy-multiple-some-missing-glob');
  await copyFiles({ srcRoot: ctx2, sources: ['file-a.txt', 'subdir-*', 'file-?.txt', 'missing*'], destRoot: root, dest: 'subdir/' });
  assert.ok(existsSync(join(root, 'subdir/file-a.txt')));
  assert.ok(existsSync(join(root, 'subdir/file-c.txt')), 'subdir-c contents are merged into subdir/');
});

test('several sources into a destination without a trailing slash is refused unless it is a directory', async () => {
  const ctx = caseContext('bc-wildcard');
  const root = tempDir('dest');
  await rejects(
    () => copyFiles({ srcRoot: ctx, sources: ['dir2/*.b', 'dir2/*.c'], destRoot: root, dest: '/usr/test' }),
    'INVALID_ARGUMENT',
    /must be a directory/,
  );
  await copyFiles({ srcRoot: ctx, sources: ['dir2/*.b', 'dir2/*.c'], destRoot: root, dest: '/usr/test/' });
  assert.equal(readdirSync(join(root, 'usr/test')).sort(), ['file.b', 'file.c', 'file2.b']);
});

test("an existing top-level destination directory keeps its mode; nested directories take the source's", async () => {
  const ctx = caseContext('bc-overlapdir-withoutslash');
  const root = tempDir('dest');
  mkdirSync(join(root, 'etc'), { mode: 0o755 });
  chmodSync(root, 0o755);
  chmodSync(join(ctx, 'existing'), 0o700);
  chmodSync(join(ctx, 'existing/etc'), 0o750);
  await copyFiles({ srcRoot: ctx, sources: ['existing'], destRoot: root, dest: '.' });
  assert.is(statSync(root).mode & 0o777, 0o755);
  assert.is(statSync(join(root, 'etc')).mode & 0o777, 0o750);
  assert.ok(existsSync(join(root, 'etc/file-in-existing-dir')));
});

test("a new destination directory for a directory source is created 0755, not with the source's mode", async () => {
  const ctx = tempDir('ctx');
  mkdirSync(join(ctx, 'src/sub'), { recursive: true, mode: 0o700 });
  chmodSync(join(ctx, 'src'), 0o700);
  writeFileSync(join(ctx, 'src/sub/f'), 'x');
  const root = tempDir('dest');
  await copyFiles({ srcRoot: ctx, sources: ['src'], destRoot: root, dest: '/a/b' });
  assert.is(statSync(join(root, 'a/b')).mode & 0o777, 0o755);
  assert.is(statSync(join(root, 'a/b/sub')).mode & 0o777, 0o700);
});

test('mode (setuid/setgid/sticky), mtime, symlinks and hardlinks are kept', async () => {
  const ctx = caseContext('bc-setuid-in-context');
  mkdirSync(join(ctx, 'links'));
  writeFileSync(join(ctx, 'links/a'), 'same');
  linkSync(join(ctx, 'links/a'), join(ctx, 'links/b'));
  symlinkSync('a', join(ctx, 'links/sym'));
  utimesSync(join(ctx, 'links/a'), 1485449953, 1485449953);
  const root = tempDir('dest');
  await copyFiles({ srcRoot: ctx, sources: ['.'], destRoot: root, dest: 'subdir1', ownership: 'reset' });
  const mode = (p: string): number => lstatSync(join(root, 'subdir1', p)).mode & 0o7777;
  assert.is(mode('should-be-setuid-file'), 0o4755);
  assert.is(mode('should-be-setgid-file'), 0o2755);
  assert.is(mode('should-be-sticky-file'), 0o1755);
  assert.is(mode('should-not-be-setuid-setgid-sticky-file'), 0o640);
  const a = lstatSync(join(root, 'subdir1/links/a'));
  const b = lstatSync(join(root, 'subdir1/links/b'));
  assert.is(a.ino, b.ino, 'hardlinked pair stays linked');
  assert.is(Math.floor(a.mtimeMs / 1000), 1485449953);
  assert.is(lstatSync(join(root, 'subdir1/links/sym')).isSymbolicLink(), true);
});

test('bc-hardlinks-from-stage: links among the copied files are kept, even to files outside the selection', async () => {
  const stage = tempDir('stage');
  mkdirSync(join(stage, 'target/subdir'), { recursive: true });
  writeFileSync(join(stage, 'target/passwd'), 'root:x:0:0\n');
  linkSync(join(stage, 'target/passwd'), join(stage, 'target/subdir/passwd'));
  linkSync(join(stage, 'target/subdir/passwd'), join(stage, 'target/subdir/passwd2'));
  const root = tempDir('dest');
  await copyFiles({ srcRoot: stage, sources: ['/target/subdir'], destRoot: root, dest: '/subdir' });
  assert.is(lstatSync(join(root, 'subdir/passwd')).ino, lstatSync(join(root, 'subdir/passwd2')).ino);
  assert.is(lstatSync(join(root, 'subdir/passwd')).nlink, 2);
});

test('kn-copy-symlink: a symlink named as the source is followed; symlinks inside a directory are copied as links', async () => {
  const stage = tempDir('stage');
  mkdirSync(join(stage, 'temp'));
  writeFileSync(join(stage, 'temp/target'), 'hello\n');
  symlinkSync('target', join(stage, 'temp/link'));
  mkdirSync(join(stage, 'workdir'));
  symlinkSync('../temp/target', join(stage, 'workdir/relative_link'));
  const root = tempDir('dest');
  await copyFiles({ srcRoot: stage, sources: ['temp/'], destRoot: root, dest: 'dest/' });
  await copyFiles({ srcRoot: stage, sources: ['/workdir/relative_link'], destRoot: root, dest: '/workdirAnother/' });
  assert.is(listing(root)['/dest/link'], 'l -> target');
  assert.is(read(root, 'workdirAnother/relative_link'), 'hello\n');
  assert.ok(lstatSync(join(root, 'workdirAnother/relative_link')).isFile());
});

test('--chmod: octal applies to files and directories; symbolic modes apply per file', async () => {
  const ctx = caseContext('kn-copyadd-chmod');
  const root = tempDir('dest');
  await copyFiles({ srcRoot: ctx, sources: ['context/qux'], destRoot: root, dest: '/dir777', chmod: '777' });
  assert.is(statSync(join(root, 'dir777/qup')).mode & 0o7777, 0o777);
  assert.is(statSync(join(root, 'dir777/quw/que')).mode & 0o7777, 0o777);
  assert.is(statSync(join(root, 'dir777/quw')).mode & 0o7777, 0o777);
  chmodSync(join(ctx, 'context/foo'), 0o640);
  await copyFiles({ srcRoot: ctx, sources: ['context/foo'], destRoot: root, dest: '/f', chmod: 'u+x,o+r' });
  assert.is(statSync(join(root, 'f')).mode & 0o7777, 0o744);
  await rejects(() => copyFiles({ srcRoot: ctx, sources: ['context/foo'], destRoot: root, dest: '/g', chmod: '99999' }), 'DOCKERFILE_BAD_FLAG');
});

test('--parents keeps the source path, below a /./ pivot when given', async () => {
  const ctx = tempDir('ctx');
  mkdirSync(join(ctx, 'a/b/c'), { recursive: true });
  writeFileSync(join(ctx, 'a/b/c/f.txt'), '1');
  writeFileSync(join(ctx, 'a/b/g.txt'), '2');
  writeFileSync(join(ctx, 'a/b/h.md'), '3');
  const root = tempDir('dest');
  await copyFiles({ srcRoot: ctx, sources: ['a/b/c/f.txt', 'a/b/*.txt'], destRoot: root, dest: '/out/', parents: true });
  await copyFiles({ srcRoot: ctx, sources: ['a/./b/c'], destRoot: root, dest: '/pivot/', parents: true });
  const l = listing(root);
  assert.equal(
    Object.keys(l)
      .filter((k) => k.startsWith('/out/'))
      .sort(),
    ['/out/a', '/out/a/b', '/out/a/b/c', '/out/a/b/c/f.txt', '/out/a/b/g.txt'],
  );
  assert.equal(
    Object.keys(l)
      .filter((k) => k.startsWith('/pivot/'))
      .sort(),
    ['/pivot/b', '/pivot/b/c', '/pivot/b/c/f.txt'],
  );
  await rejects(() => copyFiles({ srcRoot: ctx, sources: ['a/missing.txt'], destRoot: root, dest: '/out/', parents: true }), 'COPY_SOURCE_NOT_FOUND');
});

test('--exclude uses .dockerignore patterns relative to each source, and filters wildcard matches', async () => {
  const ctx = tempDir('ctx');
  mkdirSync(join(ctx, 'src/sub'), { recursive: true });
  for (const f of ['a.txt', 'b.md', 'sub/c.txt', 'sub/d.md']) writeFileSync(join(ctx, 'src', f), f);
  const root = tempDir('dest');
  await copyFiles({ srcRoot: ctx, sources: ['src'], destRoot: root, dest: '/one/', exclude: ['*.md'] });
  await copyFiles({ srcRoot: ctx, sources: ['src'], destRoot: root, dest: '/two/', exclude: ['**/*.md', '!sub/d.md'] });
  await copyFiles({ srcRoot: ctx, sources: ['src/*'], destRoot: root, dest: '/three/', exclude: ['*.txt'] });
  const keys = (p: string): string[] =>
    Object.keys(listing(root))
      .filter((k) => k.startsWith(p))
      .sort();
  assert.equal(keys('/one/'), ['/one/a.txt', '/one/sub', '/one/sub/c.txt', '/one/sub/d.md']);
  assert.equal(keys('/two/'), ['/two/a.txt', '/two/sub', '/two/sub/c.txt', '/two/sub/d.md']);
  // src/sub is a match too: its contents are copied with the patterns relative to it, so sub/c.txt goes as well.
  assert.equal(keys('/three/'), ['/three/b.md', '/three/d.md']);
});

test('.dockerignore: ignored files do not exist for COPY; exceptions re-include below an ignored directory', async () => {
  const ctx = caseContext('bc-dockerignore-exceptions-skip');
  const ignoreText = readFileSync(join(ctx, '.dockerignore'), 'utf8');
  const ignore = createPatternMatcher(ignoreText.split('\n').filter((l) => l && !l.startsWith('#')));
  const root = tempDir('dest');
  await copyFiles({ srcRoot: ctx, sources: ['.'], destRoot: root, dest: '/', ignore });
  for (const k of Object.keys(listing(root))) {
    const rel = k.slice(1);
    if (lstatSync(join(root, rel)).isFile()) assert.not.ok(ignore.matches(rel), `${rel} is ignored but was copied`);
  }
  // An ignored directory that an exception re-enters still matches a wildcard, holding only what is re-included.
  const ctx3 = tempDir('ctx');
  mkdirSync(join(ctx3, 'subdir'));
  writeFileSync(join(ctx3, 'subdir/sub1.txt'), '1');
  writeFileSync(join(ctx3, 'subdir/sub2.txt'), '2');
  await copyFiles({ srcRoot: ctx3, sources: ['sub*'], destRoot: root, dest: '/w/', ignore: createPatternMatcher(['*', 'subdir', '!*/sub1*']) });
  assert.equal(readdirSync(join(root, 'w')), ['sub1.txt']);
  await rejects(
    () => copyFiles({ srcRoot: ctx3, sources: ['subdir'], destRoot: root, dest: '/v/', ignore: createPatternMatcher(['subdir', '!*/nothing*']) }),
    'COPY_SOURCE_NOT_FOUND',
  );
  const ctx2 = tempDir('ctx');
  writeFileSync(join(ctx2, 'secret.txt'), 's');
  await rejects(
    () => copyFiles({ srcRoot: ctx2, sources: ['secret.txt'], destRoot: root, dest: '/x', ignore: createPatternMatcher(['secret.txt']) }),
    'COPY_SOURCE_NOT_FOUND',
  );
});

test('a destination file cannot replace a directory, nor a directory a file', async () => {
  const ctx = tempDir('ctx');
  writeFileSync(join(ctx, 'f'), 'x');
  mkdirSync(join(ctx, 'd'));
  writeFileSync(join(ctx, 'd/x'), 'x');
  const root = tempDir('dest');
  mkdirSync(join(root, 'out/x'), { recursive: true });
  writeFileSync(join(root, 'file'), 'y');
  await rejects(
    () => copyFiles({ srcRoot: ctx, sources: ['d'], destRoot: root, dest: '/out' }),
    'BUILD_STEP_FAILED',
    /cannot replace to directory \/out\/x with file/,
  );
  await rejects(() => copyFiles({ srcRoot: ctx, sources: ['d'], destRoot: root, dest: '/file' }), 'BUILD_STEP_FAILED', /non-directory/);
});

test.run();
