/** Mount points before runc starts and after the run, on a plain directory (no overlay, no root needed). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lstat, mkdir, mkdtemp, readdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareMountPoints, removeMountPoints, type SpecPaths } from '../../../src/sandbox/mount-points.js';
import { removeMountStubs } from '../../../src/builder/mount-stubs.js';

let dir = '';
let n = 0;
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-mount-points-'));
});
test.after(() => rm(dir, { recursive: true, force: true }));

/** A fresh rootfs and a host directory outside it holding an empty `b/c` and a canary. */
async function fixture(): Promise<{ rootfs: string; host: string }> {
  const rootfs = join(dir, `rootfs-${++n}`);
  const host = join(dir, `host-${n}`);
  await mkdir(rootfs);
  await mkdir(join(host, 'b/c'), { recursive: true });
  await writeFile(join(host, 'canary'), 'x');
  return { rootfs, host };
}

const spec = (mounts: Array<{ destination: string; type: string; source?: string }>, linux: SpecPaths['linux'] = {}): SpecPaths => ({ mounts, linux });

test('/dev, /proc and /sys that are symlinks or files become real directories; nothing is written through them', async () => {
  const { rootfs, host } = await fixture();
  await symlink(host, join(rootfs, 'dev'));
  await symlink('/', join(rootfs, 'proc'));
  await writeFile(join(rootfs, 'sys'), '');
  const s = spec(
    [
      { destination: '/proc', type: 'proc' },
      { destination: '/dev', type: 'tmpfs' },
      { destination: '/dev/pts', type: 'devpts' },
      { destination: '/sys', type: 'sysfs' },
    ],
    { maskedPaths: ['/proc/kcore'], devices: [{ path: '/dev/fuse' }] },
  );
  const stubs = await prepareMountPoints(rootfs, s);
  for (const d of ['dev', 'proc', 'sys']) assert.ok((await lstat(join(rootfs, d))).isDirectory(), d);
  assert.equal(
    s.mounts!.map((m) => m.destination),
    ['/proc', '/dev', '/dev/pts', '/sys'],
  );
  assert.equal(s.linux!.maskedPaths, ['/proc/kcore']);
  assert.equal(stubs, [], 'replacements are not stubs');
  assert.equal((await readdir(host)).sort(), ['b', 'canary']);
});

test('other destinations resolve inside the rootfs, and the spec names the resolved path', async () => {
  const { rootfs, host } = await fixture();
  await mkdir(join(rootfs, 'run'));
  await symlink('../run', join(rootfs, 'varrun'));
  await mkdir(join(rootfs, 'etc'));
  await symlink(host, join(rootfs, 'etc/hosts'));
  const src = join(dir, `file-${n}`);
  await writeFile(src, 'h');
  const s = spec([
    { destination: '/etc/hosts', type: 'bind', source: src },
    { destination: '/varrun/secrets/x', type: 'bind', source: dir },
  ]);
  const stubs = await prepareMountPoints(rootfs, s);
  assert.equal(
    s.mounts!.map((m) => m.destination),
    [`/${host.slice(1)}`, '/run/secrets/x'],
  );
  assert.ok((await lstat(join(rootfs, host))).isFile(), 'file stub inside the rootfs');
  assert.ok((await lstat(join(rootfs, 'run/secrets/x'))).isDirectory());
  assert.is(await readlink(join(rootfs, 'varrun')), '../run', "the image's symlink is kept");
  await removeMountPoints(rootfs, stubs);
  assert.equal(await readdir(join(rootfs, 'run')), []);
  assert.equal((await readdir(host)).sort(), ['b', 'canary']);
});

test("a step that swaps a stub's parent for a symlink to the host: removal deletes nothing there", async () => {
  const { rootfs, host } = await fixture();
  const stubs = await prepareMountPoints(rootfs, spec([{ destination: '/a/b/c', type: 'tmpfs' }]));
  assert.equal(
    stubs.map((x) => x.rel),
    ['a', 'a/b', 'a/b/c'],
  );
  // What the step does: mv /a /a.old && ln -s HOST /a
  await rename(join(rootfs, 'a'), join(rootfs, 'a.old'));
  await symlink(host, join(rootfs, 'a'));
  await removeMountPoints(rootfs, stubs);
  assert.ok((await lstat(join(host, 'b/c'))).isDirectory(), 'host b/c survives');
  assert.ok((await lstat(join(rootfs, 'a'))).isSymbolicLink());
});

test('a missing mount point under a file of the image is refused with a coded error', async () => {
  const { rootfs } = await fixture();
  await writeFile(join(rootfs, 'f'), '');
  try {
    await prepareMountPoints(rootfs, spec([{ destination: '/f/x', type: 'tmpfs' }]));
    assert.unreachable('should refuse');
  } catch (err) {
    assert.is((err as { code?: string }).code, 'UNSAFE_PATH');
    assert.match(String((err as Error).message), /\/f\/x: \/f is not a directory/);
  }
});

test('removeMountStubs walks the upper dir without following a symlink the step made', async () => {
  const { rootfs: upper, host } = await fixture();
  await symlink(host, join(upper, 'a'));
  await mkdir(join(upper, 'x/y'), { recursive: true });
  await removeMountStubs(upper, async () => [], ['/a/b/c', '/a/b', '/x/y']);
  assert.ok((await lstat(join(host, 'b/c'))).isDirectory(), 'host b/c survives');
  assert.equal(await readdir(upper), ['a'], 'the real empty stub /x/y and its parent are removed');
});

test.run();
