// Escape tests: nothing a Dockerfile names may read or write outside its own root.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addFiles } from '../../../src/builder/fileops/add.js';
import { checksumSources } from '../../../src/builder/fileops/checksum.js';
import { copyFiles } from '../../../src/builder/fileops/copy.js';
import { rejects } from '../../helpers/assert.js';
import { cleanup, tempDir } from './fixtures.js';
import { writeTar } from './tarball.js';

test.after.each(cleanup);

test('a context symlink to /etc/shadow is never read from the host', async () => {
  const ctx = tempDir('ctx');
  symlinkSync('/etc/shadow', join(ctx, 'abs'));
  symlinkSync('../../../../../../etc/shadow', join(ctx, 'rel'));
  const root = tempDir('dest');
  // Named directly, the link is followed — inside the context, where there is no etc/shadow.
  await rejects(() => copyFiles({ srcRoot: ctx, sources: ['abs'], destRoot: root, dest: '/x' }), 'COPY_SOURCE_NOT_FOUND');
  await rejects(() => copyFiles({ srcRoot: ctx, sources: ['rel'], destRoot: root, dest: '/x' }), 'COPY_SOURCE_NOT_FOUND');
  await rejects(() => checksumSources(ctx, ['abs'], {}), 'COPY_SOURCE_NOT_FOUND');
  // Inside a copied directory it stays a symlink, its target never opened.
  await copyFiles({ srcRoot: ctx, sources: ['.'], destRoot: root, dest: '/ctx/' });
  assert.is(readlinkSync(join(root, 'ctx/abs')), '/etc/shadow');
  assert.ok(lstatSync(join(root, 'ctx/abs')).isSymbolicLink());
  // And when the context does hold etc/shadow, that is what the link means.
  mkdirSync(join(ctx, 'etc'));
  writeFileSync(join(ctx, 'etc/shadow'), 'context copy');
  await copyFiles({ srcRoot: ctx, sources: ['abs'], destRoot: root, dest: '/y' });
  assert.is(readFileSync(join(root, 'y'), 'utf8'), 'context copy');
});

test('a destination symlink to / does not write to the host /', async () => {
  const ctx = tempDir('ctx');
  writeFileSync(join(ctx, 'f'), 'payload');
  const root = tempDir('dest');
  symlinkSync('/', join(root, 'evil'));
  symlinkSync('../../../../../../tmp', join(root, 'up'));
  const marker = `kiln-escape-${process.pid}`;
  await copyFiles({ srcRoot: ctx, sources: ['f'], destRoot: root, dest: `/evil/${marker}` });
  await copyFiles({ srcRoot: ctx, sources: ['f'], destRoot: root, dest: `/up/${marker}` });
  await copyFiles({ srcRoot: ctx, sources: ['f'], destRoot: root, dest: `/evil/tmp/dir/` });
  assert.not.ok(existsSync(`/${marker}`));
  assert.not.ok(existsSync(`/tmp/${marker}`));
  assert.not.ok(existsSync('/tmp/dir/f'));
  assert.is(readFileSync(join(root, marker), 'utf8'), 'payload');
  assert.is(readFileSync(join(root, 'tmp', marker), 'utf8'), 'payload');
  assert.is(readFileSync(join(root, 'tmp/dir/f'), 'utf8'), 'payload');
});

test('a file copied over an existing symlink replaces the link instead of writing through it', async () => {
  const ctx = tempDir('ctx');
  mkdirSync(join(ctx, 'd'));
  writeFileSync(join(ctx, 'd/passwd'), 'mine');
  const root = tempDir('dest');
  const outside = join(tempDir('outside'), 'victim');
  writeFileSync(outside, 'untouched');
  mkdirSync(join(root, 'etc'));
  symlinkSync(outside, join(root, 'etc/passwd'));
  await copyFiles({ srcRoot: ctx, sources: ['d'], destRoot: root, dest: '/etc/' });
  assert.is(readFileSync(outside, 'utf8'), 'untouched');
  assert.ok(lstatSync(join(root, 'etc/passwd')).isFile());
});

test('an archive with ../../ entries is refused and writes nothing outside', async () => {
  const ctx = tempDir('ctx');
  const marker = `kiln-tar-escape-${process.pid}`;
  await writeTar(join(ctx, 'evil.tar'), [
    { name: 'ok.txt', body: 'ok' },
    { name: `../../../../../../tmp/${marker}`, body: 'x' },
  ]);
  const root = tempDir('dest');
  await rejects(() => addFiles({ srcRoot: ctx, sources: ['evil.tar'], destRoot: root, dest: '/out/' }), 'UNSAFE_PATH');
  assert.not.ok(existsSync(`/tmp/${marker}`));
  await writeTar(join(ctx, 'hl.tar'), [{ name: 'h', type: 'link', linkname: '../../../etc/passwd' }]);
  await rejects(() => addFiles({ srcRoot: ctx, sources: ['hl.tar'], destRoot: root, dest: '/out2/' }), 'UNSAFE_PATH');
});

test('an archive symlink to / cannot redirect later entries outside the destination', async () => {
  const ctx = tempDir('ctx');
  const marker = `kiln-tar-link-${process.pid}`;
  await writeTar(join(ctx, 'evil.tar'), [
    { name: 'root', type: 'symlink', linkname: '/' },
    { name: `root/tmp/${marker}`, body: 'x' },
    { name: 'up', type: 'symlink', linkname: '../../../../../..' },
    { name: `up/tmp/${marker}2`, body: 'y' },
  ]);
  const root = tempDir('dest');
  await addFiles({ srcRoot: ctx, sources: ['evil.tar'], destRoot: root, dest: '/out' });
  assert.not.ok(existsSync(`/tmp/${marker}`));
  assert.not.ok(existsSync(`/tmp/${marker}2`));
  // Resolved as if /out were the root, the way Docker's chroot extraction does.
  assert.is(readFileSync(join(root, 'out/tmp', marker), 'utf8'), 'x');
  assert.is(readFileSync(join(root, 'out/tmp', `${marker}2`), 'utf8'), 'y');
});

test('a stage path that is a symlink to / resolves inside the stage', async () => {
  const stage = tempDir('stage');
  mkdirSync(join(stage, 'etc'));
  writeFileSync(join(stage, 'etc/passwd'), 'stage passwd');
  symlinkSync('/', join(stage, 'rootlink'));
  const root = tempDir('dest');
  await copyFiles({ srcRoot: stage, sources: ['/rootlink/etc/passwd'], destRoot: root, dest: '/p' });
  assert.is(readFileSync(join(root, 'p'), 'utf8'), 'stage passwd');
  await copyFiles({ srcRoot: stage, sources: ['/rootlink'], destRoot: root, dest: '/all/' });
  assert.is(readFileSync(join(root, 'all/etc/passwd'), 'utf8'), 'stage passwd');
  const sum = await checksumSources(stage, ['/rootlink/etc/passwd'], {});
  assert.ok(sum.manifest['/rootlink/etc/passwd']);
});

test.run();
