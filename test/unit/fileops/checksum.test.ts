import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chownSync, mkdirSync, statSync, utimesSync, writeFileSync, cpSync, symlinkSync, chmodSync, rmSync, renameSync } from 'node:fs';
import { join, posix } from 'node:path';
import { execFileSync } from 'node:child_process';
import { checksumSources, createEntryMemo, describeEntryChange, diffManifests } from '../../../src/builder/fileops/checksum.js';
import { createPatternMatcher } from '../../../src/builder/fileops/patterns.js';
import { openStatCache } from '../../../src/builder/fileops/stat-cache.js';
import { rejects } from '../../helpers/assert.js';
import { isRoot, skipIf } from '../../helpers/skip.js';
import { cleanup, tempDir } from './fixtures.js';

test.after.each(cleanup);

function context(): string {
  const ctx = tempDir('ctx');
  mkdirSync(join(ctx, 'src/lib'), { recursive: true });
  writeFileSync(join(ctx, 'src/app.js'), 'console.log(1)\n');
  writeFileSync(join(ctx, 'src/lib/util.js'), 'export {}\n');
  writeFileSync(join(ctx, 'README.md'), '# hi\n');
  return ctx;
}

test('the digest ignores mtime: a fresh copy of the same files has the same checksum', async () => {
  const a = context();
  const b = tempDir('ctx');
  cpSync(a, b, { recursive: true }); // new inodes, new times
  utimesSync(join(b, 'src/app.js'), 1, 1);
  const da = await checksumSources(a, ['src'], { ownership: 'reset' });
  const db = await checksumSources(b, ['src'], { ownership: 'reset' });
  assert.is(da.digest, db.digest);
  assert.equal(Object.keys(da.manifest).sort(), ['/src', '/src/app.js', '/src/lib', '/src/lib/util.js']);
});

test('a changed, added or removed file changes the digest and the manifest diff names it', async () => {
  const ctx = context();
  const before = await checksumSources(ctx, ['src'], {});
  writeFileSync(join(ctx, 'src/app.js'), 'console.log(2)\n');
  writeFileSync(join(ctx, 'src/new.js'), '1');
  const after = await checksumSources(ctx, ['src', 'README.md'], {});
  assert.is.not(before.digest, after.digest);
  const diff = diffManifests(before.manifest, after.manifest);
  assert.equal(diff, { changed: ['/src/app.js'], added: ['/README.md', '/src/new.js'], removed: [] });
  const again = await checksumSources(ctx, ['src'], {});
  assert.equal(diffManifests(again.manifest, before.manifest).removed, ['/src/new.js']);
});

test('mode, symlink target and type are part of the digest', async () => {
  const ctx = context();
  const d0 = (await checksumSources(ctx, ['.'], {})).digest;
  chmodSync(join(ctx, 'README.md'), 0o755);
  const d1 = (await checksumSources(ctx, ['.'], {})).digest;
  assert.is.not(d0, d1);
  symlinkSync('a', join(ctx, 'l'));
  const d2 = await checksumSources(ctx, ['.'], {});
  symlinkSync('b', join(ctx, 'l2'));
  const d3 = await checksumSources(ctx, ['.'], {});
  assert.is.not(d2.digest, d1);
  assert.is.not(d2.manifest['/l'], d3.manifest['/l2']);
});

test('the stat cache skips unchanged files, and a same-size rewrite with mtime restored is still caught (ctime)', async () => {
  const ctx = context();
  const state = tempDir('state');
  const file = join(state, 'build-cache', 'stat-cache.v1');
  // A file changed in the very millisecond it is hashed is "racy" and not persisted even with racyMs 0
  // (Date.now() is whole ms, ctime finer): let the clock move past the files' creation first.
  await new Promise((r) => setTimeout(r, 5));
  const first = await checksumSources(ctx, ['src'], { statCache: openStatCache(file, { racyMs: 0 }) });
  assert.is(first.hashed, 2);
  const cache = openStatCache(file, { racyMs: 0 });
  const second = await checksumSources(ctx, ['src'], { statCache: cache });
  assert.is(second.hashed, 0, 'reloaded from disk: nothing re-hashed');
  assert.is(second.digest, first.digest);
  const p = join(ctx, 'src/app.js');
  const st = statSync(p);
  const ns = statSync(p, { bigint: true }).mtimeNs;
  await new Promise((r) => setTimeout(r, 20)); // let the coarse kernel clock tick
  writeFileSync(p, 'console.log(9)\n'); // same size
  // mtime put back to the nanosecond (touch, as `cp -p` or tar would); ctime moved
  execFileSync('touch', ['-m', '-d', `@${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`, p]);
  assert.is(statSync(p).mtimeMs, st.mtimeMs);
  const third = await checksumSources(ctx, ['src'], { statCache: cache });
  assert.is(third.hashed, 1);
  assert.equal(diffManifests(first.manifest, third.manifest).changed, ['/src/app.js']);
});

test("a reloaded stat cache answers for many files (indexed) and keeps other contexts' entries when rewritten", async () => {
  const big = tempDir('big');
  for (let i = 0; i < 60; i++) writeFileSync(join(big, `f${i}`), `file ${i}\n`);
  const ctx = context();
  const file = join(tempDir('state'), 'stat-cache.v1');
  assert.is((await checksumSources(big, ['.'], { statCache: openStatCache(file, { racyMs: 0 }) })).hashed, 60);
  assert.is((await checksumSources(ctx, ['src'], { statCache: openStatCache(file, { racyMs: 0 }) })).hashed, 2);
  const cache = openStatCache(file, { racyMs: 0 });
  assert.is((await checksumSources(big, ['.'], { statCache: cache })).hashed, 0, '60 lookups: past the scanning ones');
  assert.is((await checksumSources(ctx, ['src'], { statCache: cache })).hashed, 0);
  writeFileSync(join(big, 'f7'), 'changed\n');
  assert.is((await checksumSources(big, ['.'], { statCache: cache })).hashed, 1);
  assert.is((await checksumSources(big, ['.'], { statCache: openStatCache(file, { racyMs: 0 }) })).hashed, 0, 'the rewrite kept all 60');
  assert.is((await checksumSources(ctx, ['src'], { statCache: openStatCache(file, { racyMs: 0 }) })).hashed, 0);
});

test('a file hashed in the same instant it was written is not persisted (racy-clean rule)', async () => {
  const ctx = context();
  const state = tempDir('state');
  const file = join(state, 'stat-cache.v1');
  await checksumSources(ctx, ['src'], { statCache: openStatCache(file) });
  const again = await checksumSources(ctx, ['src'], { statCache: openStatCache(file) });
  assert.is(again.hashed, 2);
});

test('.dockerignored files do not count: touching one keeps the digest', async () => {
  const ctx = context();
  const ignore = createPatternMatcher(['*.md']);
  const d0 = await checksumSources(ctx, ['.'], { ignore });
  writeFileSync(join(ctx, 'README.md'), 'changed');
  const d1 = await checksumSources(ctx, ['.'], { ignore });
  assert.is(d0.digest, d1.digest);
  assert.not.ok('/README.md' in d1.manifest);
});

skipIf(!isRoot, 'chown needs root')('owners count for stage sources but not for the context (ownership: reset)', async () => {
  const ctx = context();
  const keep0 = await checksumSources(ctx, ['src'], { ownership: 'keep' });
  const reset0 = await checksumSources(ctx, ['src'], { ownership: 'reset' });
  chownSync(join(ctx, 'src/app.js'), 1234, 1234);
  assert.is.not((await checksumSources(ctx, ['src'], { ownership: 'keep' })).digest, keep0.digest);
  assert.is((await checksumSources(ctx, ['src'], { ownership: 'reset' })).digest, reset0.digest);
});

test('describeEntryChange() says what changed for --explain: content, mode, owner, link target, type', async () => {
  const ctx = context();
  const m = async () => (await checksumSources(ctx, ['.'], {})).manifest;
  const m0 = await m();
  writeFileSync(join(ctx, 'README.md'), '# changed\n');
  chmodSync(join(ctx, 'src/app.js'), 0o600);
  symlinkSync('a', join(ctx, 'l'));
  const m1 = await m();
  symlinkSync('b', join(ctx, 'l2'));
  assert.is(describeEntryChange(m0['/README.md'], m1['/README.md']), 'content');
  assert.is(describeEntryChange(m0['/src/app.js'], m1['/src/app.js']), 'mode 644 → 600');
  const m2 = await m();
  assert.is(describeEntryChange(m2['/l'], m2['/l2']), 'link target "a" → "b"');
  assert.is(describeEntryChange(m2['/l'], m2['/README.md']), 'type symlink → file');
});

test('relative manifest paths are the rooted ones as a user writes them (normalised, no leading slash)', async () => {
  const ctx = context();
  mkdirSync(join(ctx, '.hidden'));
  writeFileSync(join(ctx, '.hidden/.x'), 'x');
  const written = (p: string) => (p.includes('//') || p.includes('/.') ? posix.normalize(p) : p).replace(/^\/+/, '');
  for (const sources of [['.'], ['src'], ['src/'], ['./src'], ['src/./lib'], ['src/*.js'], ['README.md'], ['/src/lib/'], ['.hidden']]) {
    const rooted = (await checksumSources(ctx, sources, {})).manifest;
    const relative = (await checksumSources(ctx, sources, { manifestPaths: 'relative' })).manifest;
    assert.equal(relative, Object.fromEntries(Object.entries(rooted).map(([k, v]) => [written(k), v])), sources.join(' '));
  }
});

test('an entry memo gives the same digest and manifest, and any change to an entry is seen through it', async () => {
  const ctx = context();
  symlinkSync('src/app.js', join(ctx, 'link'));
  const memo = createEntryMemo({ racyMs: 0 });
  const plain = await checksumSources(ctx, ['.'], {});
  const first = await checksumSources(ctx, ['.'], { memo });
  assert.is(memo.rows.size, Object.keys(first.manifest).length, 'every entry kept');
  const again = await checksumSources(ctx, ['.'], { memo });
  assert.equal([first.digest, again.digest], [plain.digest, plain.digest]);
  assert.equal(again.manifest, plain.manifest);
  assert.is(again.manifest, first.manifest, 'an unchanged selection reuses the whole result');
  assert.ok(Object.isFrozen(again.manifest), 'the shared manifest cannot be changed by a caller');
  const changes: Array<[string, () => void]> = [
    ['content, same size', () => writeFileSync(join(ctx, 'src/app.js'), 'console.log(9)\n')],
    ['mode', () => chmodSync(join(ctx, 'src/lib/util.js'), 0o600)],
    ['directory mode', () => chmodSync(join(ctx, 'src/lib'), 0o700)],
    ['link target', () => execFileSync('ln', ['-sfn', 'README.md', join(ctx, 'link')])],
    ['a new file', () => writeFileSync(join(ctx, 'src/lib/new.js'), '')],
    ['a file removed', () => rmSync(join(ctx, 'src/lib/new.js'))],
    ['a file renamed', () => renameSync(join(ctx, 'README.md'), join(ctx, 'README.txt'))],
  ];
  let before = again.digest;
  for (const [what, change] of changes) {
    // Past the clock's tick (a jiffy): a change within the tick of the last read keeps its stamps, which is what
    // the racy window (0 here) is for.
    await new Promise((r) => setTimeout(r, 25));
    change();
    const viaMemo = await checksumSources(ctx, ['.'], { memo });
    const fresh = await checksumSources(ctx, ['.'], {});
    assert.is.not(viaMemo.digest, before, what);
    assert.is(viaMemo.digest, fresh.digest, what);
    assert.equal(viaMemo.manifest, fresh.manifest, what);
    assert.is((await checksumSources(ctx, ['.'], { memo })).digest, fresh.digest, `${what}: again, through the whole-selection memo`);
    before = viaMemo.digest;
  }
  const owners = await checksumSources(ctx, ['.'], { memo, ownership: 'reset' });
  assert.is(owners.digest, (await checksumSources(ctx, ['.'], { ownership: 'reset' })).digest, 'ownership is part of the memo');
});

test('an entry memo keeps nothing changed within its racy window', async () => {
  const ctx = context();
  const memo = createEntryMemo();
  await checksumSources(ctx, ['.'], { memo });
  assert.is(memo.rows.size, 0, 'every file was just written');
  assert.is(memo.selections.size, 0, 'nor the selection');
});

test('a missing source fails like the copy would', async () => {
  await rejects(() => checksumSources(context(), ['nope.txt'], {}), 'COPY_SOURCE_NOT_FOUND', /nope\.txt/);
});

test.run();
