// COPY/ADD into a real overlay mount, the way the builder runs them: the step's rootfs is lower layers plus a fresh
// upper dir; what the copy does must land in the upper dir (including whiteouts for replaced directories).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readFileSync, readdirSync, writeFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { addFiles } from '../../../src/builder/fileops/add.js';
import { copyFiles } from '../../../src/builder/fileops/copy.js';
import { cleanup, tempDir } from '../../unit/fileops/fixtures.js';
import { writeTar } from '../../unit/fileops/tarball.js';

let merged = '';
test.after.each(() => {
  if (merged) execFileSync('umount', [merged]);
  merged = '';
  cleanup();
});

function overlay(): { merged: string; upper: string; lower: string } {
  const base = tempDir('ovl');
  const lower = join(base, 'lower');
  const upper = join(base, 'upper');
  const work = join(base, 'work');
  merged = join(base, 'merged');
  for (const d of [lower, upper, work, merged]) mkdirSync(d);
  mkdirSync(join(lower, 'etc'));
  writeFileSync(join(lower, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\napp:x:10:10::/:/bin/sh\n');
  mkdirSync(join(lower, 'dirone'));
  writeFileSync(join(lower, 'dirone/onefile.txt'), 'one');
  symlinkSync('/', join(lower, 'toroot'));
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, merged]);
  return { merged, upper, lower };
}

test('copies land in the upper dir; a lower directory replaced by an archive file becomes a whiteout-backed file', async () => {
  const o = overlay();
  const ctx = tempDir('ctx');
  writeFileSync(join(ctx, 'app.conf'), 'conf');
  await writeTar(join(ctx, 't.tar'), [{ name: 'dirone', body: 'now a file' }]);
  await copyFiles({ srcRoot: ctx, sources: ['app.conf'], destRoot: o.merged, dest: '/toroot/etc/', chown: 'app', ownership: 'reset' });
  await addFiles({ srcRoot: ctx, sources: ['t.tar'], destRoot: o.merged, dest: '/' });
  assert.is(readFileSync(join(o.upper, 'etc/app.conf'), 'utf8'), 'conf', 'through the lower symlink to /, still inside the rootfs');
  assert.is(lstatSync(join(o.upper, 'etc/app.conf')).uid, 10, "--chown name resolved in the lower layer's /etc/passwd");
  assert.is(readFileSync(join(o.merged, 'dirone'), 'utf8'), 'now a file');
  assert.ok(lstatSync(join(o.upper, 'dirone')).isFile());
  assert.equal(readdirSync(join(o.lower, 'dirone')), ['onefile.txt'], 'the lower layer is never written');
});

test.run();
