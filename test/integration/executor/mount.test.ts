import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, mkdir, writeFile, readFile, rm, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountAll, mountsUnder, unmountAll } from '../../../src/sandbox/mount.js';
import { rejects } from '../../helpers/assert.js';

let dir = '';
test.before.each(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-mount-'));
  for (const d of ['lower1', 'lower2', 'upper', 'work', 'rootfs', 'host']) await mkdir(join(dir, d));
  await writeFile(join(dir, 'lower1/a'), 'from lower1');
  await writeFile(join(dir, 'lower2/a'), 'from lower2');
  await writeFile(join(dir, 'host/h'), 'host file');
});
test.after.each(async () => {
  await unmountAll(dir);
  await rm(dir, { recursive: true, force: true });
});

test('mountAll() stacks an overlay root and a bind mount below it; unmountAll() removes both', async () => {
  const root = join(dir, 'rootfs');
  await mountAll(
    [
      { type: 'overlay', source: 'overlay', options: [`lowerdir=${dir}/lower1:${dir}/lower2`, `upperdir=${dir}/upper`, `workdir=${dir}/work`] },
      { type: 'bind', source: join(dir, 'host'), target: '/mnt/host', options: ['rbind', 'ro'] },
    ],
    root,
  );
  assert.is(await readFile(join(root, 'a'), 'utf8'), 'from lower1');
  assert.is(await readFile(join(root, 'mnt/host/h'), 'utf8'), 'host file');
  await writeFile(join(root, 'new'), 'x');
  assert.equal(await readdir(join(dir, 'upper')), ['mnt', 'new']);
  assert.is((await mountsUnder(root)).length, 2);
  await unmountAll(root);
  assert.is((await mountsUnder(root)).length, 0);
});

test('mountAll() undoes earlier mounts when a later one fails', async () => {
  const root = join(dir, 'rootfs');
  await rejects(
    () =>
      mountAll(
        [
          { type: 'bind', source: join(dir, 'host'), options: ['rbind'] },
          { type: 'bind', source: join(dir, 'missing'), target: '/x', options: ['rbind'] },
        ],
        root,
      ),
    'MOUNT_FAILED',
  );
  assert.is((await mountsUnder(root)).length, 0);
});

test('mountAll() mounts a deep overlay whose relative lowerdirs resolve from Mount.cwd', async () => {
  const layers = join(dir, 'layers');
  const names: string[] = [];
  for (let i = 0; i < 150; i++) {
    const name = i.toString(16).padStart(12, '0');
    names.push(name);
    await mkdir(join(layers, name), { recursive: true });
    await writeFile(join(layers, name, `f${i}`), String(i));
  }
  const options = [`lowerdir=${names.reverse().join(':')}`, `upperdir=${dir}/upper`, `workdir=${dir}/work`];
  assert.ok(`lowerdir=${names.map((n) => join(layers, n)).join(':')}`.length > 4096, 'absolute paths would not fit');
  const root = join(dir, 'rootfs');
  await mountAll([{ type: 'overlay', source: 'overlay', options, cwd: layers }], root);
  assert.is(await readFile(join(root, 'f0'), 'utf8'), '0');
  assert.is(await readFile(join(root, 'f149'), 'utf8'), '149');
  await unmountAll(root);
});

test('unmountAll() of a path with nothing mounted succeeds', async () => {
  await unmountAll(join(dir, 'rootfs'));
});

test.run();
