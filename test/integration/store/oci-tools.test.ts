/**
 * Other OCI tools read kiln's store and archives in place, and kiln loads what they write: skopeo (inspect,
 * copy to and from oci-archive / docker-archive) and umoci (unpack, stat).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensureBusyboxImage } from '../../../src/cache/busybox-image.js';
import { openRoot, type StoreRoot } from '../../../src/cache/root.js';
import { loadArchive } from '../../../src/exporter/archive-load.js';
import { resolveSaveItems, saveArchive } from '../../../src/exporter/archive-save.js';
import { createWriteStream } from 'node:fs';
import type { ImageRecord } from '../../../src/cache/image-store.js';

const run = promisify(execFile);
let dir = '';
let root: StoreRoot;
let image: ImageRecord;
const REF = 'docker.io/library/busybox:latest';

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-tools-'));
  root = await openRoot(join(dir, 'root'));
  image = (await ensureBusyboxImage(root)).image;
});
test.after(async () => {
  await root.close();
  await rm(dir, { recursive: true, force: true });
});

async function save(format: 'docker' | 'oci', file: string): Promise<void> {
  await saveArchive(root.content, await resolveSaveItems(root.images, ['busybox']), createWriteStream(file), { format });
}

test('skopeo inspects an image in the store in place', async () => {
  const { stdout } = await run('skopeo', ['inspect', `oci:${root.paths.oci}:${REF}`]);
  const info = JSON.parse(stdout);
  assert.is(info.Digest, image.manifestDigest);
  assert.equal(
    info.Layers,
    image.manifest.layers.map((l) => l.digest),
  );
  const cfg = JSON.parse((await run('skopeo', ['inspect', '--config', `oci:${root.paths.oci}:${REF}`])).stdout);
  assert.equal(cfg.config.Cmd, ['sh']);
});

test('umoci unpacks and stats an image in the store', async () => {
  const bundle = join(dir, 'bundle');
  await run('umoci', ['unpack', '--image', `${root.paths.oci}:${REF}`, bundle]);
  const rootfs = join(bundle, 'rootfs');
  assert.ok((await lstat(join(rootfs, 'bin/busybox'))).isFile());
  assert.is(await readlink(join(rootfs, 'bin/sh')), '/bin/busybox');
  assert.is((await lstat(join(rootfs, 'tmp'))).mode & 0o7777, 0o1777);
  assert.match(await readFile(join(rootfs, 'etc/passwd'), 'utf8'), /^kiln:x:1000:1000:/m);
  const stat = JSON.parse((await run('umoci', ['stat', '--json', '--image', `${root.paths.oci}:${REF}`])).stdout);
  assert.ok(stat.history.some((h: { created_by?: string }) => /kiln base busybox/.test(h.created_by ?? '')));
  await rm(bundle, { recursive: true, force: true });
});

test('skopeo reads kiln save --format docker as a docker-archive, and copies it', async () => {
  const file = join(dir, 'docker.tar');
  await save('docker', file);
  const info = JSON.parse((await run('skopeo', ['inspect', `docker-archive:${file}:busybox:latest`])).stdout);
  assert.is(info.Architecture, image.config.architecture);
  const cfg = (await run('skopeo', ['inspect', '--raw', '--config', `docker-archive:${file}:busybox:latest`])).stdout;
  const { sha256Digest } = await import('../../../src/image/digest.js');
  assert.is(sha256Digest(cfg), image.id, 'the config is carried byte for byte (same image ID)');
  await run('skopeo', ['copy', '-q', `docker-archive:${file}:busybox:latest`, `oci:${join(dir, 'copy1')}:bb`]);
});

test('skopeo and umoci read kiln save --format oci', async () => {
  const file = join(dir, 'oci.tar');
  await save('oci', file);
  const info = JSON.parse((await run('skopeo', ['inspect', `oci-archive:${file}:busybox:latest`])).stdout);
  assert.is(info.Digest, image.manifestDigest, 'blobs and manifest as stored');
  const layout = join(dir, 'layout');
  await mkdir(layout);
  await run('tar', ['-xf', file, '-C', layout]);
  await run('umoci', ['unpack', '--image', `${layout}:busybox:latest`, join(dir, 'bundle2')]);
  assert.ok((await lstat(join(dir, 'bundle2/rootfs/bin/busybox'))).isFile());
});

test('kiln loads docker-archive and oci-archive files written by skopeo', async () => {
  const da = join(dir, 'sk-docker.tar');
  const oa = join(dir, 'sk-oci.tar');
  await run('skopeo', ['copy', '-q', `oci:${root.paths.oci}:${REF}`, `docker-archive:${da}:sk/busybox:v1`]);
  await run('skopeo', ['copy', '-q', `oci:${root.paths.oci}:${REF}`, `oci-archive:${oa}:skbox:v2`]);
  const other = await openRoot(join(dir, 'other'));
  try {
    const a = await loadArchive(other, createReadStream(da), da);
    assert.equal(
      a.map((x) => x.ref),
      ['docker.io/sk/busybox:v1'],
    );
    const b = await loadArchive(other, createReadStream(oa), oa);
    assert.equal(
      b.map((x) => x.ref),
      ['docker.io/library/skbox:v2'],
    );
    const recA = await other.images.resolve('sk/busybox:v1');
    const recB = await other.images.resolve('skbox:v2');
    assert.equal(recA.config.rootfs.diff_ids, image.config.rootfs.diff_ids);
    assert.equal(recB.config.rootfs.diff_ids, image.config.rootfs.diff_ids);
    const { verifyStore } = await import('../../../src/cache/verify.js');
    assert.equal((await verifyStore(other)).problems, []);
  } finally {
    await other.close();
  }
});

test.run();
