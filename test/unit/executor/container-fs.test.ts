/**
 * The pure parts of the container file operations: Go FileMode bits for the cp stat header, the upper and lower
 * dirs of a rootfs mount, container path resolution through volumes (confined), `docker diff`'s rules on a fake
 * upper/lower pair, and commit's reference and config rules.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { goFileMode } from '../../../src/containers/container-fs.js';
import { cleanContainerPath, resolveContainerPath, rootfsLayers, type ContainerRootView } from '../../../src/containers/container-root.js';
import { containerChanges } from '../../../src/containers/changes.js';
import { commitReference, containerConfig } from '../../../src/containers/commit.js';
import type { ContainerRecord } from '../../../src/containers/containers.js';

let dir = '';
test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-cfs-'));
});
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('goFileMode() sets Go os.FileMode type bits over the permission bits', () => {
  const d = join(dir, 'm');
  mkdirSync(d);
  writeFileSync(join(d, 'f'), '');
  chmodSync(join(d, 'f'), 0o4755);
  symlinkSync('f', join(d, 'l'));
  execFileSync('mkfifo', [join(d, 'p')]);
  chmodSync(d, 0o755);
  assert.is(goFileMode(lstatSync(d)), 2 ** 31 + 0o755);
  assert.is(goFileMode(lstatSync(join(d, 'f'))), 2 ** 23 + 0o755);
  assert.is(goFileMode(lstatSync(join(d, 'l'))) - (lstatSync(join(d, 'l')).mode & 0o777), 2 ** 27);
  assert.is(goFileMode(lstatSync(join(d, 'p'))) & ~0o777, 2 ** 25);
});

test('rootfsLayers() reads upper and lower dirs from an overlay (relative lowers under cwd) or a bind', () => {
  assert.equal(rootfsLayers([{ type: 'bind', source: '/s/upper', options: ['rbind', 'rw'] }]), { upper: '/s/upper', lowers: [] });
  assert.equal(rootfsLayers([{ type: 'overlay', source: 'overlay', options: ['lowerdir=/d/a:/d/b', 'upperdir=/u', 'workdir=/w', 'index=off'] }]), {
    upper: '/u',
    lowers: ['/d/a', '/d/b'],
  });
  assert.equal(rootfsLayers([{ type: 'overlay', source: 'overlay', options: ['lowerdir=a:b', 'upperdir=/u', 'workdir=/w'], cwd: '/d' }]).lowers, [
    '/d/a',
    '/d/b',
  ]);
});

test('cleanContainerPath() cleans lexically and stops .. at /', () => {
  assert.is(cleanContainerPath('/a/b/'), '/a/b');
  assert.is(cleanContainerPath('a/../../..'), '/');
  assert.is(cleanContainerPath('/'), '/');
  assert.is(cleanContainerPath('/a/./b/../c'), '/a/c');
});

test('resolveContainerPath() keeps symlinks inside the root and steps into volumes; tmpfs is refused', async () => {
  const rootfs = join(dir, 'rootfs');
  const vol = join(dir, 'vol');
  mkdirSync(join(rootfs, 'etc'), { recursive: true });
  mkdirSync(join(rootfs, 'data'));
  writeFileSync(join(rootfs, 'data', 'hidden'), 'image file under the mount');
  mkdirSync(vol);
  writeFileSync(join(vol, 'v.txt'), 'volume');
  symlinkSync('/etc/passwd', join(rootfs, 'etc', 'x')); // a host path as seen from the host
  symlinkSync('/data/v.txt', join(rootfs, 'vlink'));
  symlinkSync('/', join(vol, 'up'));
  const view: ContainerRootView = {
    rootfs,
    running: false,
    readonlyRootfs: false,
    mounts: [
      { type: 'bind', source: vol, target: '/data', readonly: true },
      { type: 'tmpfs', target: '/run' },
    ],
  };
  const x = await resolveContainerPath(view, '/etc/x', { followFinal: true });
  assert.is(x.host, join(rootfs, 'etc', 'passwd'));
  assert.is(x.stat, undefined);
  const kept = await resolveContainerPath(view, '/etc/x', { followFinal: false });
  assert.ok(kept.stat?.isSymbolicLink());
  const v = await resolveContainerPath(view, '/data/v.txt', { followFinal: true });
  assert.is(v.host, join(vol, 'v.txt'));
  assert.is(v.inner, '/data/v.txt');
  assert.ok(v.mount?.readonly);
  assert.is((await resolveContainerPath(view, '/vlink', { followFinal: true })).host, join(vol, 'v.txt'));
  assert.is((await resolveContainerPath(view, '/data/hidden', { followFinal: true })).stat, undefined, 'the mount hides the image file');
  // A symlink inside a volume is followed within the volume.
  assert.is((await resolveContainerPath(view, '/data/up/v.txt', { followFinal: true })).host, join(vol, 'v.txt'));
  try {
    await resolveContainerPath(view, '/run/x', { followFinal: true });
    assert.unreachable('tmpfs');
  } catch (err) {
    assert.is((err as { code?: string }).code, 'NOT_IMPLEMENTED');
  }
});

function fakeRecord(upper: string, lower: string): ContainerRecord {
  return {
    id: 'c'.repeat(64),
    name: 'fake',
    image: 'busybox',
    imageId: 'sha256:' + '0'.repeat(64),
    created: new Date().toISOString(),
    status: 'exited',
    autoRemove: false,
    detached: false,
    volumes: [],
    spec: {
      rootfs: [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lower}`, `upperdir=${upper}`, `workdir=${upper}-w`] }],
      process: { args: ['sh', '-c', 'x'], env: ['A=1'], cwd: '/', user: '' },
      mounts: [],
      network: 'none',
      ports: [],
    },
  } as ContainerRecord;
}

test('containerChanges() follows dockerd: added, modified, unchanged dirs skipped, parents of additions modified, stubs hidden', async () => {
  const lower = join(dir, 'lower');
  const upper = join(dir, 'upper');
  for (const d of [lower, upper]) {
    mkdirSync(join(d, 'etc'), { recursive: true });
    mkdirSync(join(d, 'same'), { recursive: true });
  }
  writeFileSync(join(lower, 'etc', 'passwd'), 'root');
  writeFileSync(join(upper, 'etc', 'passwd'), 'root\nmore');
  writeFileSync(join(upper, 'same', 'new.txt'), 'n');
  writeFileSync(join(upper, 'top.txt'), 't');
  mkdirSync(join(upper, 'proc'));
  writeFileSync(join(upper, 'etc', 'hosts'), '');
  for (const d of [lower, upper]) {
    chmodSync(join(d, 'same'), 0o755);
    chmodSync(join(d, 'etc'), 0o755);
    utimesSync(join(d, 'same'), 1000, 1000);
  }
  // /etc changed itself (its mtime), /same only below.
  utimesSync(join(lower, 'etc'), 1000, 1000);
  utimesSync(join(upper, 'etc'), 2000, 2000);
  const changes = await containerChanges('/nonexistent', fakeRecord(upper, lower));
  assert.equal(changes, [
    { Path: '/etc', Kind: 0 },
    { Path: '/etc/passwd', Kind: 0 },
    { Path: '/same', Kind: 0 },
    { Path: '/same/new.txt', Kind: 1 },
    { Path: '/top.txt', Kind: 1 },
  ]);
});

test('containerChanges() lists nothing for a directory copied up only to hold runtime mount points', async () => {
  const lower = join(dir, 'lower2');
  const upper = join(dir, 'upper2');
  for (const d of [lower, upper]) mkdirSync(join(d, 'etc'), { recursive: true });
  writeFileSync(join(upper, 'etc', 'hostname'), '');
  writeFileSync(join(upper, 'etc', 'resolv.conf'), '');
  mkdirSync(join(upper, 'sys'));
  utimesSync(join(lower, 'etc'), 1000, 1000);
  utimesSync(join(upper, 'etc'), 2000, 2000);
  assert.equal(await containerChanges('/nonexistent', fakeRecord(upper, lower)), []);
  writeFileSync(join(upper, 'etc', 'resolv.conf'), 'nameserver 1.1.1.1\n');
  assert.equal(await containerChanges('/nonexistent', fakeRecord(upper, lower)), [
    { Path: '/etc', Kind: 0 },
    { Path: '/etc/resolv.conf', Kind: 1 },
  ]);
});

test('commitReference() adds latest, refuses a tag without a repository', () => {
  assert.is(commitReference('myimg', undefined), 'docker.io/library/myimg:latest');
  assert.is(commitReference('myimg', 'v1'), 'docker.io/library/myimg:v1');
  assert.is(commitReference(undefined, undefined), undefined);
  assert.throws(() => commitReference(undefined, 'v1'), /repository/);
  assert.throws(() => commitReference('Bad Name', undefined));
});

test("containerConfig() keeps the image's ENTRYPOINT when the argv starts with it, else takes the first word", () => {
  const rec = fakeRecord('/u', '/l');
  rec.spec.process.args = ['/entry', 'a', 'b'];
  assert.equal(containerConfig(rec, { Entrypoint: ['/entry'], Cmd: ['x'] }).Cmd, ['a', 'b']);
  assert.equal(containerConfig(rec, { Entrypoint: ['/entry'] }).Entrypoint, ['/entry']);
  const other = containerConfig(rec, { Entrypoint: ['/other'] });
  assert.equal([other.Entrypoint, other.Cmd], [['/entry'], ['a', 'b']]);
  assert.equal(containerConfig(rec, {}).Cmd, ['/entry', 'a', 'b']);
  assert.equal(containerConfig(rec, {}).Env, ['A=1']);
});

test.run();
