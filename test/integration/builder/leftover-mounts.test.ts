/**
 * Clean-up never deletes through a mount: a directory that is still a mount point (or has one under it) is left
 * to the start-up sweep, which unmounts before it removes. The mounts here are bind mounts of a "snapshot"
 * directory outside the root, so a deletion through them would show as missing snapshot files.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBuilder } from '../../../src/builder/open.js';
import { removeUnlessMounted } from '../../../src/builder/rootfs.js';
import { openRoot } from '../../../src/cache/root.js';
import { mountsUnder, unmountAll } from '../../../src/sandbox/mount.js';

let dir: string;
let snapshot: string;

test.before.each(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-leftover-'));
  snapshot = join(dir, 'snapshot');
  await mkdir(join(snapshot, 'etc'), { recursive: true });
  await writeFile(join(snapshot, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
});
test.after.each(async () => {
  await unmountAll(dir).catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

const bind = (src: string, dest: string) => execFileSync('mount', ['--bind', src, dest]);

test('removeUnlessMounted() keeps a dir with a mount under it, and the mounted files, until it is unmounted', async () => {
  const mnt = join(dir, 'mnt-1');
  await mkdir(join(mnt, 'rootfs'), { recursive: true });
  bind(snapshot, join(mnt, 'rootfs'));
  assert.is(await removeUnlessMounted(mnt), false);
  assert.is(await readFile(join(snapshot, 'etc', 'passwd'), 'utf8'), 'root:x:0:0::/root:/bin/sh\n');
  assert.ok((await readdir(dir)).includes('mnt-1'));

  bind(snapshot, mnt);
  assert.is(await removeUnlessMounted(mnt), false, 'a dir that is itself a mount point stays');

  await unmountAll(mnt);
  assert.is(await removeUnlessMounted(mnt), true);
  assert.not.ok((await readdir(dir)).includes('mnt-1'));
  assert.is(await readFile(join(snapshot, 'etc', 'passwd'), 'utf8'), 'root:x:0:0::/root:/bin/sh\n');
});

test("a dead build's tmp dir with a snapshot still mounted survives the root's sweep; openBuilder unmounts it, then removes it", async () => {
  const rootDir = join(dir, 'root');
  await (await openRoot(rootDir)).close();
  // As a build killed inside withMounted leaves it: `<root>/tmp/<dead owner>-build-…/mnt-…` with a mount on it.
  const dead = join(rootDir, 'tmp', '999999999.1-build-dead');
  await mkdir(join(dead, 'mnt-x'), { recursive: true });
  bind(snapshot, join(dead, 'mnt-x'));

  await (await openRoot(rootDir)).close();
  assert.is(await readFile(join(snapshot, 'etc', 'passwd'), 'utf8'), 'root:x:0:0::/root:/bin/sh\n', 'the sweep did not delete through the mount');
  assert.ok((await readdir(join(rootDir, 'tmp'))).includes('999999999.1-build-dead'));

  const b = await openBuilder(rootDir);
  await b.close();
  assert.equal(await mountsUnder(dead), []);
  assert.not.ok((await readdir(join(rootDir, 'tmp'))).includes('999999999.1-build-dead'));
  assert.is(await readFile(join(snapshot, 'etc', 'passwd'), 'utf8'), 'root:x:0:0::/root:/bin/sh\n');
});

test.run();
