import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { execFileSync } from 'node:child_process';
import { ensureBusyboxImage } from '../../../src/cache/busybox-image.js';
import { importRootfs } from '../../../src/cache/import-rootfs.js';
import { loadArchive } from '../../../src/exporter/archive-load.js';
import { resolveSaveItems, saveArchive } from '../../../src/exporter/archive-save.js';
import { rejects } from '../../helpers/assert.js';
import { blobCount, cleanupRoots, tempDir, tempRoot } from './store-fixtures.js';

test.after(cleanupRoots);

async function save(root: Awaited<ReturnType<typeof tempRoot>>, names: string[], format: 'docker' | 'oci', file: string) {
  const out = createWriteStream(file);
  await saveArchive(root.content, await resolveSaveItems(root.images, names), out, { format });
}

async function rootfsTar(dir: string): Promise<string> {
  execFileSync('sh', ['-c', `mkdir -p ${dir}/r/etc && echo hi > ${dir}/r/etc/hello && tar -C ${dir}/r -cf ${dir}/r.tar .`]);
  return join(dir, 'r.tar');
}

for (const format of ['docker', 'oci'] as const) {
  test(`save --format ${format} then load gives the same image ID and tags`, async () => {
    const src = await tempRoot();
    const { image } = await ensureBusyboxImage(src, 'busybox:latest');
    await src.images.tag('team/bb:1', image.descriptor);
    const file = join(await tempDir(), 'a.tar');
    await save(src, ['busybox', 'team/bb:1'], format, file);
    const dst = await tempRoot();
    const loaded = await loadArchive(dst, createReadStream(file), file);
    assert.equal(loaded.map((l) => l.ref).sort(), ['docker.io/library/busybox:latest', 'docker.io/team/bb:1']);
    assert.is((await dst.images.resolve('busybox')).id, image.id);
    assert.is((await dst.images.resolve('team/bb:1')).id, image.id);
    if (format === 'oci') assert.is((await dst.images.resolve('busybox')).manifestDigest, image.manifestDigest);
  });
}

test('load rejects a truncated archive and leaves the store unchanged', async () => {
  const src = await tempRoot();
  await ensureBusyboxImage(src);
  const dir = await tempDir();
  await save(src, ['busybox'], 'docker', join(dir, 'a.tar'));
  const whole = await readFile(join(dir, 'a.tar'));
  await writeFile(join(dir, 'cut.tar'), whole.subarray(0, Math.floor(whole.length / 2)));
  const dst = await tempRoot();
  await rejects(() => loadArchive(dst, createReadStream(join(dir, 'cut.tar')), 'cut.tar'), 'ARCHIVE_INVALID', /cut\.tar/);
  assert.is(await blobCount(dst), 0);
  assert.equal(await dst.images.entries(), []);
});

test('load rejects a blob whose content does not match its name', async () => {
  const dir = await tempDir();
  const bogus = `blobs/sha256/${'0'.repeat(64)}`;
  execFileSync('sh', [
    '-c',
    `cd ${dir} && mkdir -p blobs/sha256 && echo nope > ${bogus} && echo '{"schemaVersion":2,"manifests":[]}' > index.json && tar -cf x.tar index.json blobs`,
  ]);
  const dst = await tempRoot();
  await rejects(() => loadArchive(dst, createReadStream(join(dir, 'x.tar')), 'x.tar'), 'DIGEST_MISMATCH', /x\.tar: member blobs\/sha256\/0+/);
  assert.is(await blobCount(dst), 0);
});

test('load rejects a manifest naming a blob the archive lacks', async () => {
  const dir = await tempDir();
  const missing = `sha256:${'1'.repeat(64)}`;
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: missing, size: 2 },
    layers: [],
  });
  const { createHash } = await import('node:crypto');
  const md = createHash('sha256').update(manifest).digest('hex');
  execFileSync('sh', [
    '-c',
    `cd ${dir} && mkdir -p blobs/sha256 && printf '%s' '${manifest}' > blobs/sha256/${md} && echo '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:${md}","size":${manifest.length},"annotations":{"org.opencontainers.image.ref.name":"x:1"}}]}' > index.json && tar -cf x.tar index.json blobs`,
  ]);
  const dst = await tempRoot();
  await rejects(() => loadArchive(dst, createReadStream(join(dir, 'x.tar')), 'x.tar'), 'BLOB_NOT_FOUND', /config sha256:1+ is not in the archive/);
  assert.is(await blobCount(dst), 0, 'the manifest blob it added is removed again');
});

test('load rejects a corrupt gzip layer naming the archive and the layer, and leaves the store unchanged', async () => {
  const dir = await tempDir();
  const { createHash } = await import('node:crypto');
  const { gzipSync } = await import('node:zlib');
  const raw = Buffer.alloc(4096, 0);
  raw.write('hello', 0);
  const gz = gzipSync(raw);
  gz.fill(7, 10, 20); // inside the deflate data: no longer inflates
  const diffId = `sha256:${createHash('sha256').update(raw).digest('hex')}`;
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [diffId] } });
  await writeFile(join(dir, 'c.json'), config);
  await writeFile(join(dir, 'layer.tar.gz'), gz);
  await writeFile(join(dir, 'manifest.json'), JSON.stringify([{ Config: 'c.json', RepoTags: ['bad:1'], Layers: ['layer.tar.gz'] }]));
  execFileSync('tar', ['-C', dir, '-cf', join(dir, 'g.tar'), 'manifest.json', 'c.json', 'layer.tar.gz']);
  const dst = await tempRoot();
  await rejects(() => loadArchive(dst, createReadStream(join(dir, 'g.tar')), 'g.tar'), 'ARCHIVE_INVALID', /^g\.tar: layer layer\.tar\.gz: corrupt gzip stream/);
  assert.is(await blobCount(dst), 0);
  assert.equal(await dst.images.entries(), []);
});

test('load rejects ../ member names', async () => {
  const dir = await tempDir();
  execFileSync('python3', [
    '-c',
    `import tarfile,io\nt=tarfile.open('${dir}/e.tar','w')\ni=tarfile.TarInfo('../evil');i.size=1\nt.addfile(i,io.BytesIO(b'x'))\nt.close()`,
  ]);
  const dst = await tempRoot();
  await rejects(() => loadArchive(dst, createReadStream(join(dir, 'e.tar')), 'e.tar'), 'UNSAFE_PATH', /\.\.\/evil/);
});

test('import makes a one-layer image that keeps the tar byte-exact as its diff ID', async () => {
  const dir = await tempDir();
  const tarPath = await rootfsTar(dir);
  const root = await tempRoot();
  const r = await importRootfs(root, createReadStream(tarPath), { source: tarPath, ref: 'imp:1', changes: ['CMD ["cat","/etc/hello"]'] });
  const rec = await root.images.resolve('imp:1');
  assert.is(rec.id, r.id);
  assert.is(rec.manifest.layers.length, 1);
  const { sha256Digest } = await import('../../../src/image/digest.js');
  assert.is(rec.config.rootfs.diff_ids[0], sha256Digest(await readFile(tarPath)));
  assert.equal(rec.config.config?.Cmd, ['cat', '/etc/hello']);
});

test('import rejects absolute members and leaves the store unchanged', async () => {
  const dir = await tempDir();
  execFileSync('tar', ['-cPf', join(dir, 'abs.tar'), '/etc/hostname']);
  const root = await tempRoot();
  await rejects(
    () => importRootfs(root, createReadStream(join(dir, 'abs.tar')), { source: 'abs.tar', ref: 'x' }),
    'UNSAFE_PATH',
    /abs\.tar: member "\/etc\/hostname"/,
  );
  await rejects(
    () => importRootfs(root, Readable.from([Buffer.from('not a tar at all, just text that goes on')]), { source: 'junk' }),
    'ARCHIVE_INVALID',
    /junk/,
  );
  assert.is(await blobCount(root), 0);
});

test.run();
