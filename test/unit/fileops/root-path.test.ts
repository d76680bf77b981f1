import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveInRoot } from '../../../src/builder/fileops/root-path.js';
import { throwsCode } from '../../helpers/assert.js';

let root = '';
test.before.each(() => {
  root = mkdtempSync(join(tmpdir(), 'kiln-rootpath-'));
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
});
test.after.each(() => rmSync(root, { recursive: true, force: true }));

test('an absolute symlink target resolves from the root, not the host /', () => {
  symlinkSync('/etc/passwd', join(root, 'link'));
  assert.is(resolveInRoot(root, '/link'), join(root, 'etc/passwd'));
  symlinkSync('/', join(root, 'toroot'));
  assert.is(resolveInRoot(root, 'toroot/etc/shadow'), join(root, 'etc/shadow'));
});

test('.. and relative links cannot climb above the root', () => {
  symlinkSync('../../../../etc', join(root, 'up'));
  assert.is(resolveInRoot(root, 'up/passwd'), join(root, 'etc/passwd'));
  assert.is(resolveInRoot(root, '../../../etc/passwd'), join(root, 'etc/passwd'));
  assert.is(resolveInRoot(root, '/'), root);
});

test('missing components are appended and a dangling link resolves to its confined target', () => {
  symlinkSync('symlink-target', join(root, 'symlink'));
  assert.is(resolveInRoot(root, '/symlink/subdirectory'), join(root, 'symlink-target/subdirectory'));
  assert.is(resolveInRoot(root, '/a/b/../c'), join(root, 'a/c'));
});

test('followFinal: false keeps a final symlink itself', () => {
  symlinkSync('/etc/passwd', join(root, 'link'));
  assert.is(resolveInRoot(root, '/link', { followFinal: false }), join(root, 'link'));
});

test('a symlink loop is refused with UNSAFE_PATH', () => {
  symlinkSync('b', join(root, 'a'));
  symlinkSync('a', join(root, 'b'));
  throwsCode(() => resolveInRoot(root, '/a/x'), 'UNSAFE_PATH');
});

test.run();
