/**
 * Real layers on real overlay mounts (root): GNU-tar-made busybox layers unpacked by the snapshotter, a step's
 * changes in the merged dir diffed back into OCI whiteouts, the new layer stacked and mounted again, and a
 * 150-layer image mounting through relative lower dirs.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, copyFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createContentStore } from '../../../src/cache/content-store.js';
import { createSnapshotter } from '../../../src/cache/snapshotter.js';
import type { ContentStore, Mount } from '../../../src/cache/types.js';
import { layerTar } from '../../../src/layers/layer-diff.js';
import { writeLayer } from '../../../src/exporter/layer-writer.js';
import { readTar } from '../../../src/tar/reader.js';
import { packTar } from '../../../src/tar/writer.js';

let dir: string;
const mounted: string[] = [];
test.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-ovl-'));
});
test.after.each(() => {
  for (const m of mounted.splice(0).reverse()) spawnSync('umount', [m]);
  rmSync(dir, { recursive: true, force: true });
});

/** Mounts snapshotter output the way the executor must: from `cwd` when the mount names one. */
function mountAll(mounts: Mount[], target: string): void {
  mkdirSync(target, { recursive: true });
  for (const m of mounts) {
    const args = m.type === 'bind' ? ['--bind', m.source, target] : ['-t', m.type, '-o', m.options.join(','), m.source, target];
    const r = spawnSync('mount', args, { cwd: m.cwd, encoding: 'utf8' });
    assert.is(r.status, 0, `mount failed: ${r.stderr}`);
    mounted.push(target);
    if (m.type === 'bind' && m.options.includes('ro')) execFileSync('mount', ['-o', 'remount,bind,ro', target]);
  }
}
function unmount(target: string): void {
  execFileSync('umount', [target]);
  mounted.splice(mounted.indexOf(target), 1);
}

/** A busybox root split in two layers, packed by GNU tar (the format real images come in), gzip. */
async function busyboxLayers(content: ContentStore) {
  const l1 = join(dir, 'src1'),
    l2 = join(dir, 'src2');
  mkdirSync(join(l1, 'bin'), { recursive: true });
  copyFileSync('/bin/busybox', join(l1, 'bin/busybox'));
  execFileSync('chmod', ['755', join(l1, 'bin/busybox')]);
  for (const app of ['sh', 'ls', 'cat', 'rm', 'mkdir', 'touch', 'echo']) symlinkSync('busybox', join(l1, 'bin', app));
  mkdirSync(join(l1, 'etc'));
  writeFileSync(join(l1, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  mkdirSync(join(l2, 'etc'), { recursive: true });
  writeFileSync(join(l2, 'etc/motd'), 'hello\n');
  mkdirSync(join(l2, 'data'));
  for (const n of ['a', 'b', 'c']) writeFileSync(join(l2, 'data', n), n);
  const out = [];
  for (const src of [l1, l2]) {
    const tar = execFileSync('tar', ['-C', src, '--numeric-owner', '-cf', '-', '.'], { maxBuffer: 1 << 28 });
    const layer = await writeLayer(content, Readable.from([tar]));
    out.push({ descriptor: layer.descriptor, diffId: layer.diffId });
  }
  return out;
}

async function memberNames(tar: Readable): Promise<string[]> {
  const out: string[] = [];
  for await (const { entry } of readTar(tar)) out.push(entry.type === 'dir' ? `${entry.name}/` : entry.name);
  return out;
}

test('a RUN-like change on busybox layers diffs to OCI whiteouts, and the new layer stacks and mounts', async () => {
  const content = createContentStore(join(dir, 'oci'));
  const snap = createSnapshotter({ root: join(dir, 'snapshots'), content });
  const layers = await busyboxLayers(content);
  const base = await snap.ensureImage(layers);
  const rootfs = join(dir, 'rootfs');
  mountAll(await snap.prepare('step', base), rootfs);
  const run = spawnSync(
    'chroot',
    [rootfs, '/bin/sh', '-c', 'echo new > /new && rm /etc/motd && rm -r /data && mkdir /data && echo n > /data/n && cat /etc/passwd'],
    { encoding: 'utf8' },
  );
  assert.is(run.status, 0, run.stderr);
  assert.match(run.stdout, /root:x:0:0/);
  unmount(rootfs);

  const upper = (await snap.stat('step'))!.dir;
  const names = await memberNames(layerTar(upper, { sourceDateEpoch: 0 }));
  assert.equal(names, ['data/', 'data/.wh..wh..opq', 'data/n', 'etc/', 'etc/.wh.motd', 'new']);

  const layer = await writeLayer(content, layerTar(upper, { sourceDateEpoch: 0 }));
  const again = await writeLayer(content, layerTar(upper, { sourceDateEpoch: 0 }));
  assert.is(again.diffId, layer.diffId, 'diffing the same upper twice gives the same layer');
  await snap.remove('step');

  // A fresh root: the three layers unpacked from blobs, whiteouts converted back for overlay.
  const snap2 = createSnapshotter({ root: join(dir, 'snapshots2'), content });
  const top = await snap2.ensureImage([...layers, { descriptor: layer.descriptor, diffId: layer.diffId }]);
  mountAll(await snap2.view('v', top), rootfs);
  assert.equal(readdirSync(join(rootfs, 'data')), ['n']);
  assert.not.ok(existsSync(join(rootfs, 'etc/motd')));
  assert.is(readFileSync(join(rootfs, 'new'), 'utf8'), 'new\n');
  assert.ok(existsSync(join(rootfs, 'bin/busybox')));
  unmount(rootfs);
});

test('two processes unpacking the same image at once end with one directory per layer', async () => {
  const content = createContentStore(join(dir, 'oci'));
  const layers: Array<{ descriptor: unknown; diffId: string }> = [];
  for (let i = 0; i < 12; i++) {
    const files = Array.from({ length: 200 }, (_, j) => ({
      name: `l${i}/f${j}`,
      type: 'file' as const,
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: 3000,
      mtime: 0,
      data: Buffer.alloc(3000, j),
    }));
    const l = await writeLayer(content, packTar(files));
    layers.push({ descriptor: l.descriptor, diffId: l.diffId });
  }
  const child = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, 'ensure-image-child.ts');
  const run = () =>
    new Promise<string>((resolve, reject) => {
      const p = spawn(process.execPath, ['--import', 'tsx', child, join(dir, 'oci'), join(dir, 'snapshots'), JSON.stringify(layers)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`child exited ${code}`))));
    });
  const [a, b] = await Promise.all([run(), run()]);
  assert.equal(JSON.parse(a), JSON.parse(b));
  assert.is(readdirSync(join(dir, 'snapshots/d')).length, 12);
  assert.equal(readdirSync(join(dir, 'snapshots/tmp')), []);
  for (const d of JSON.parse(a) as string[]) assert.is(readdirSync(d).length, 1);
});

test('a 300-layer image (past one mount) mounts with its bottom flattened and shows every layer', async () => {
  const content = createContentStore(join(dir, 'oci'));
  const snap = createSnapshotter({ root: join(dir, 'snapshots'), content });
  const layers = [];
  for (let i = 0; i < 300; i++) {
    const l = await writeLayer(
      content,
      packTar([{ name: `layer-${i}`, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 1, mtime: 0, data: Buffer.from('x') }]),
      { compression: 'none' },
    );
    layers.push({ descriptor: l.descriptor, diffId: l.diffId });
  }
  const mounts = await snap.prepare('deepest', await snap.ensureImage(layers));
  const rootfs = join(dir, 'rootfs');
  mountAll(mounts, rootfs);
  assert.is(readdirSync(rootfs).filter((n) => n.startsWith('layer-')).length, 300);
  unmount(rootfs);
});

test('a 150-layer image mounts and shows every layer', async () => {
  const content = createContentStore(join(dir, 'oci'));
  // A long root path makes absolute lowerdirs (~60 bytes each) overflow the 4 KiB option page.
  const root = join(dir, 'a-rather-long-directory-name-for-the-state-root', 'snapshots');
  const snap = createSnapshotter({ root, content });
  const layers = [];
  for (let i = 0; i < 150; i++) {
    const l = await writeLayer(
      content,
      packTar([{ name: `layer-${i}`, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 1, mtime: 0, data: Buffer.from('x') }]),
      { compression: 'zstd' },
    );
    layers.push({ descriptor: l.descriptor, diffId: l.diffId });
  }
  const top = await snap.ensureImage(layers);
  const mounts = await snap.prepare('deep', top);
  assert.ok(mounts[0]!.cwd, 'deep stacks mount with relative lower dirs');
  const rootfs = join(dir, 'rootfs');
  mountAll(mounts, rootfs);
  assert.is(readdirSync(rootfs).filter((n) => n.startsWith('layer-')).length, 150);
  writeFileSync(join(rootfs, 'written'), 'w');
  unmount(rootfs);
  assert.equal(readdirSync((await snap.stat('deep'))!.dir), ['written']);
});

test.run();
