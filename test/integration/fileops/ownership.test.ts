// Ownership needs root (chown to other users): --chown with names from the destination's /etc/passwd, created
// parent directories, context sources reset to 0:0, stage sources keeping their owners, archives, xattrs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { chownSync, lstatSync, mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addFiles } from '../../../src/builder/fileops/add.js';
import { copyFiles } from '../../../src/builder/fileops/copy.js';
import { getXattrs, setXattr } from '../../../src/native/fsx.js';
import { rejects } from '../../helpers/assert.js';
import { skipIf } from '../../helpers/skip.js';
import { caseContext, cleanup, tempDir } from '../../unit/fileops/fixtures.js';
import { writeTar } from '../../unit/fileops/tarball.js';

test.after.each(cleanup);

const PASSWD =
  'root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1::/:/bin/false\nbin:x:2:2::/bin:/bin/false\napp:x:4:7::/:/bin/false\ndev:x:1001:1001::/home/dev:/bin/sh\n';
const GROUP = 'root:x:0:\ndaemon:x:1:\nbin:x:2:\nlp:x:7:\ndev:x:1001:\n';

function rootfs(): string {
  const root = tempDir('rootfs');
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/passwd'), PASSWD);
  writeFileSync(join(root, 'etc/group'), GROUP);
  return root;
}

const owner = (p: string): string => {
  const st = lstatSync(p);
  return `${st.uid}:${st.gid}`;
};

test('bc-copychown: names resolve in the destination; a user alone brings its primary group, a number itself', async () => {
  const ctx = caseContext('bc-copychown');
  const root = rootfs();
  const cases: Array<[string, string, string]> = [
    ['1:2', 'script.12', '1:2'],
    ['1:daemon', 'script.1-daemon', '1:1'],
    ['1', 'script.1', '1:1'],
    ['app:daemon', 'script.app-daemon', '4:1'],
    ['2:bin', 'script.2-bin', '2:2'],
    ['2', 'script.2', '2:2'],
    ['bin', 'script.bin', '2:2'],
    ['app', 'script.app', '4:7'],
  ];
  for (const [chown, name] of cases) {
    await copyFiles({ srcRoot: ctx, sources: ['script'], destRoot: root, dest: `/usr/bin/${name}`, chown, ownership: 'reset' });
  }
  for (const [chown, name, want] of cases) assert.is(owner(join(root, 'usr/bin', name)), want, chown);
  await copyFiles({ srcRoot: ctx, sources: ['script', 'script2'], destRoot: root, dest: '/usr/local/bin/', chown: '3', ownership: 'reset' });
  assert.is(owner(join(root, 'usr/local/bin/script2')), '3:3');
  assert.is(owner(join(root, 'usr/local/bin')), '3:3', 'directories the copy creates belong to the --chown owner');
  await rejects(() => copyFiles({ srcRoot: ctx, sources: ['script'], destRoot: root, dest: '/x', chown: 'nosuchuser' }), 'USER_NOT_FOUND', /nosuchuser/);
  await rejects(() => copyFiles({ srcRoot: ctx, sources: ['script'], destRoot: root, dest: '/x', chown: 'bin:nosuchgroup' }), 'USER_NOT_FOUND', /nosuchgroup/);
});

test('kn-copy-chown-intermediate-dirs: every directory COPY/ADD creates is owned by --chown', async () => {
  const ctx = caseContext('kn-copy-chown-intermediate-dirs');
  const root = rootfs();
  await copyFiles({ srcRoot: ctx, sources: ['context/foo'], destRoot: root, dest: '/path/to/foo', chown: 'dev:dev', ownership: 'reset' });
  await copyFiles({ srcRoot: ctx, sources: ['context/qux'], destRoot: root, dest: '/path/to/qux', chown: 'dev:dev', ownership: 'reset' });
  await addFiles({ srcRoot: ctx, sources: ['context/foo'], destRoot: root, dest: '/path2/to/foo', chown: '1001:1001', ownership: 'reset' });
  await addFiles({ srcRoot: ctx, sources: ['context/qux'], destRoot: root, dest: '/path2/to/qux', chown: '1001:1001', ownership: 'reset' });
  for (const p of ['path', 'path/to', 'path/to/qux', 'path/to/foo', 'path2', 'path2/to', 'path2/to/qux', 'path2/to/qux/quw']) {
    assert.is(owner(join(root, p)), '1001:1001', p);
  }
  assert.is(owner(join(root, 'etc')), '0:0', 'existing directories are left alone');
});

test('context sources are written 0:0; stage sources keep their owners (bc-copy-from-owner)', async () => {
  const ctx = tempDir('ctx');
  writeFileSync(join(ctx, 'f'), 'x');
  chownSync(join(ctx, 'f'), 99, 99);
  const stage = tempDir('stage');
  writeFileSync(join(stage, 'test'), '');
  chownSync(join(stage, 'test'), 65, 65);
  utimesSync(join(stage, 'test'), 1485449953, 1485449953);
  const root = rootfs();
  await copyFiles({ srcRoot: ctx, sources: ['f'], destRoot: root, dest: '/f', ownership: 'reset' });
  await copyFiles({ srcRoot: stage, sources: ['/test'], destRoot: root, dest: '/test', ownership: 'keep' });
  assert.is(owner(join(root, 'f')), '0:0');
  assert.is(owner(join(root, 'test')), '65:65');
  assert.is(statSync(join(root, 'test')).mtimeMs, 1485449953000);
});

test('bc-copy-permissions: COPY --chown over an existing directory changes the files, not that directory', async () => {
  const ctx = caseContext('bc-copy-permissions');
  const root = tempDir('rootfs');
  await copyFiles({ srcRoot: ctx, sources: ['subdir/'], destRoot: root, dest: 'subdir/', ownership: 'reset' });
  await copyFiles({ srcRoot: ctx, sources: ['subdir/'], destRoot: root, dest: 'subdir/', chown: '99:99', ownership: 'reset' });
  assert.is(owner(join(root, 'subdir')), '0:0');
  assert.is(owner(join(root, 'subdir/would-be-owned-by-root')), '99:99');
  assert.is(statSync(join(root, 'subdir/would-be-owned-by-root')).mode & 0o777, 0o640);
  const ctx2 = caseContext('bc-copy-permissions-implicit');
  const root2 = tempDir('rootfs');
  await copyFiles({ srcRoot: ctx2, sources: ['subdir/'], destRoot: root2, dest: 'subdir/', chown: '99:99', ownership: 'reset' });
  await copyFiles({ srcRoot: ctx2, sources: ['subdir/'], destRoot: root2, dest: 'subdir/', ownership: 'reset' });
  assert.is(owner(join(root2, 'subdir')), '99:99', 'created by the first COPY with its --chown, then kept');
  assert.is(owner(join(root2, 'subdir/would-be-owned-by-99')), '0:0');
});

test('ADD archives keep their owners unless --chown is given', async () => {
  const ctx = tempDir('ctx');
  await writeTar(join(ctx, 'a.tar'), [
    { name: 'd/', type: 'directory' },
    { name: 'd/f', body: 'x' },
  ]);
  const root = rootfs();
  await addFiles({ srcRoot: ctx, sources: ['a.tar'], destRoot: root, dest: '/one/' });
  await addFiles({ srcRoot: ctx, sources: ['a.tar'], destRoot: root, dest: '/two/', chown: 'dev' });
  assert.is(owner(join(root, 'one/d/f')), '0:0');
  assert.is(owner(join(root, 'two/d/f')), '1001:1001');
  assert.is(owner(join(root, 'two/d')), '1001:1001');
});

/** Whether the temp directory's filesystem takes user.* xattrs (ext4 and xfs do; tmpfs only since Linux 6.6). */
function userXattrsSupported(): boolean {
  const d = mkdtempSync(join(tmpdir(), 'kiln-xattr-probe-'));
  try {
    writeFileSync(join(d, 'f'), '');
    setXattr(join(d, 'f'), 'user.probe', Buffer.from('1'));
    return true;
  } catch {
    return false;
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
}

skipIf(!userXattrsSupported(), `${tmpdir()} takes no user.* xattrs`)('extended attributes are copied (security.capability survives the chown)', async () => {
  const ctx = tempDir('ctx');
  writeFileSync(join(ctx, 'ping'), 'bin');
  setXattr(join(ctx, 'ping'), 'user.kiln', Buffer.from('yes'));
  // cap_net_raw+ep, the capability Debian's ping carries (VFS_CAP_REVISION_2).
  const cap = Buffer.from('0000000200200000000000000000000000000000', 'hex');
  setXattr(join(ctx, 'ping'), 'security.capability', cap);
  const root = rootfs();
  await copyFiles({ srcRoot: ctx, sources: ['ping'], destRoot: root, dest: '/bin/ping', chown: 'bin', ownership: 'reset' });
  const x = getXattrs(join(root, 'bin/ping')) ?? {};
  assert.is(x['user.kiln']?.toString(), 'yes');
  assert.ok(x['security.capability']?.equals(cap));
});

test('FIFOs and device nodes from a stage are recreated with their type and numbers', async () => {
  const stage = tempDir('stage');
  mkdirSync(join(stage, 'dev'));
  execFileSync('mknod', [join(stage, 'dev/null'), 'c', '1', '3']);
  execFileSync('mknod', [join(stage, 'dev/pipe'), 'p']);
  const root = rootfs();
  await copyFiles({ srcRoot: stage, sources: ['/dev'], destRoot: root, dest: '/dev' });
  const st = lstatSync(join(root, 'dev/null'));
  assert.ok(st.isCharacterDevice());
  assert.is(st.rdev, lstatSync(join(stage, 'dev/null')).rdev);
  assert.ok(lstatSync(join(root, 'dev/pipe')).isFIFO());
});

test.run();
