import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveInRoot } from '../../../src/sandbox/secure-path.js';

let root = '';
test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'kiln-secure-'));
  await mkdir(join(root, 'etc/real'), { recursive: true });
  await symlink('/etc/real', join(root, 'abs'));
  await symlink('../../../../etc', join(root, 'etc/real/up'));
  await symlink('/../../..', join(root, 'escape'));
  await symlink('loop2', join(root, 'loop1'));
  await symlink('loop1', join(root, 'loop2'));
});
test.after(() => rm(root, { recursive: true, force: true }));

test("absolute link targets restart at the root, not the host's /", async () => {
  assert.is(await resolveInRoot(root, '/abs/passwd'), join(root, 'etc/real/passwd'));
});

test('.. and relative links stop at the root', async () => {
  assert.is(await resolveInRoot(root, '/etc/real/up/passwd'), join(root, 'etc/passwd'));
  assert.is(await resolveInRoot(root, '/escape/etc/shadow'), join(root, 'etc/shadow'));
  assert.is(await resolveInRoot(root, '/../../x'), join(root, 'x'));
});

test('missing tails are kept; link loops are an error', async () => {
  assert.is(await resolveInRoot(root, '/no/such/dir'), join(root, 'no/such/dir'));
  let err: any;
  try {
    await resolveInRoot(root, '/loop1/x');
  } catch (e) {
    err = e;
  }
  assert.is(err?.code, 'UNSAFE_PATH');
});

test.run();
