import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseChmod } from '../../../src/builder/fileops/chmod.js';
import { resolveChown } from '../../../src/builder/fileops/chown.js';
import { throwsCode } from '../../helpers/assert.js';
import { cleanup, tempDir } from './fixtures.js';

test.after.each(cleanup);

function rootfs(): string {
  const root = tempDir('rootfs');
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\nbin:x:2:3::/bin:/bin/false\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\nstaff:x:50:\n');
  return root;
}

test('resolveChown(): names from the destination, numbers as given, user alone sets the group', () => {
  const root = rootfs();
  assert.equal(resolveChown('bin', root), { uid: 2, gid: 3 });
  assert.equal(resolveChown('bin:staff', root), { uid: 2, gid: 50 });
  assert.equal(resolveChown('7', root), { uid: 7, gid: 7 });
  assert.equal(resolveChown('7:staff', root), { uid: 7, gid: 50 });
  assert.equal(resolveChown(':50', root), { uid: 0, gid: 50 });
  throwsCode(() => resolveChown('nobody', root), 'USER_NOT_FOUND');
  throwsCode(() => resolveChown('a:b:c', root), 'INVALID_ARGUMENT');
});

test('resolveChown(): a number is taken as given even when passwd lists it (BuildKit readUser ByID), and USER wording', () => {
  const root = rootfs();
  assert.equal(resolveChown('2', root), { uid: 2, gid: 2 }, "not bin's primary group 3");
  assert.equal(resolveChown('9999', root), { uid: 9999, gid: 9999 });
  assert.equal(resolveChown('9999:', root), { uid: 9999, gid: 9999 });
  try {
    resolveChown('1:2:3', root, 'USER');
    assert.unreachable('a malformed USER is refused');
  } catch (err) {
    assert.match((err as Error).message, /invalid USER value/);
  }
});

test('resolveChown() reads /etc/passwd inside the root even through a symlink to /', () => {
  const root = tempDir('rootfs');
  mkdirSync(join(root, 'real'));
  writeFileSync(join(root, 'real/passwd'), 'app:x:9:9::/:/bin/sh\n');
  symlinkSync('/real', join(root, 'etc'));
  assert.equal(resolveChown('app', root), { uid: 9, gid: 9 });
  const bare = tempDir('rootfs');
  symlinkSync('/', join(bare, 'etc'));
  throwsCode(() => resolveChown('root', bare), 'USER_NOT_FOUND'); // the host's /etc/passwd is never read
});

test('parseChmod(): octal replaces the bits; symbolic edits them; X only for dirs and executables', () => {
  assert.is(parseChmod('755')(0o600, false), 0o755);
  assert.is(parseChmod('0644')(0o777, true), 0o644);
  assert.is(parseChmod('4755')(0, false), 0o4755);
  assert.is(parseChmod('u+x')(0o644, false), 0o744);
  assert.is(parseChmod('go-w')(0o666, false), 0o644);
  assert.is(parseChmod('a+X')(0o644, false), 0o644);
  assert.is(parseChmod('a+X')(0o644, true), 0o755);
  assert.is(parseChmod('a+X')(0o744, false), 0o755);
  assert.is(parseChmod('u=rw,go=r')(0o777, false), 0o644);
  assert.is(parseChmod('o=')(0o777, false), 0o770);
  assert.is(parseChmod('+x')(0o600, false), 0o711);
  throwsCode(() => parseChmod('10000'), 'DOCKERFILE_BAD_FLAG');
  throwsCode(() => parseChmod('789'), 'DOCKERFILE_BAD_FLAG');
  throwsCode(() => parseChmod('u+q'), 'DOCKERFILE_BAD_FLAG');
});

test.run();
