/** The store commands as a user runs them: output shaped like Docker's, bad input refused with the store unchanged. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kiln } from '../../helpers/kiln-cli.js';

let dir = '';
let root = '';
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-cli-store-'));
  root = join(dir, 'root');
});
test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const blobs = async () => (await readdir(join(root, 'oci/blobs/sha256'))).sort();
const index = async () => readFile(join(root, 'oci/index.json'), 'utf8');

test('kiln base busybox makes busybox:latest once and is quiet after', async () => {
  const first = await kiln(['base', 'busybox'], { root });
  assert.is(first.code, 0, first.stderr);
  assert.match(first.stdout, /^[0-9a-f]{12}\n$/);
  const again = await kiln(['base', 'busybox'], { root });
  assert.is(again.code, 0);
  assert.is(again.stdout, '');
});

test('kiln images lists tags like docker images, with -q and --format json', async () => {
  assert.is((await kiln(['tag', 'busybox', '127.0.0.1:5000/team/app:1.2'], { root })).code, 0);
  const r = await kiln(['images'], { root });
  assert.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0]!, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
  assert.ok(
    lines.some((l) => /^busybox\s+latest\s+[0-9a-f]{12}\s+\d+ years ago\s+[\d.]+[kM]B$/.test(l)),
    r.stdout,
  );
  assert.ok(lines.some((l) => /^127\.0\.0\.1:5000\/team\/app\s+1\.2\s/.test(l)));
  const q = await kiln(['images', '-q'], { root });
  assert.is(new Set(q.stdout.trim().split('\n')).size, 1);
  const json = (await kiln(['images', '--format', 'json', 'busybox'], { root })).stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.is(json.length, 1);
  assert.is(json[0].Repository, 'busybox');
  assert.is(json[0].Tag, 'latest');
});

test('kiln inspect prints config, manifest, layers and size', async () => {
  const r = await kiln(['inspect', 'busybox'], { root });
  assert.is(r.code, 0, r.stderr);
  const [doc] = JSON.parse(r.stdout);
  assert.match(doc.Id, /^sha256:[0-9a-f]{64}$/);
  assert.equal(doc.Config.Cmd, ['sh']);
  assert.is(doc.Layers.length, 1);
  assert.is(doc.Manifest.layers[0].digest, doc.Layers[0].digest);
  assert.ok(doc.Size > 500_000);
  assert.ok(doc.RepoTags.includes('busybox:latest'));
  const f = await kiln(['inspect', '-f', '{{.Config.Cmd}}', 'busybox'], { root });
  assert.is(f.stdout, '[sh]\n');
});

test('unknown references fail with exit 3 naming them; invalid ones with exit 2', async () => {
  const r = await kiln(['inspect', 'nosuch:tag'], { root });
  assert.is(r.code, 3);
  assert.match(r.stderr, /error: image "nosuch:tag" not found/);
  assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
  const t = await kiln(['tag', 'busybox', 'Bad:Name!'], { root });
  assert.is(t.code, 2);
  assert.match(t.stderr, /invalid reference "Bad:Name!"/);
});

test('kiln import turns a rootfs tarball into a one-layer image; bad tarballs change nothing', async () => {
  const rootfs = join(dir, 'rootfs');
  execFileSync('sh', ['-c', `mkdir -p ${rootfs}/etc && echo imported > ${rootfs}/etc/msg && tar -C ${rootfs} -czf ${dir}/rootfs.tgz .`]);
  const ok = await kiln(['import', join(dir, 'rootfs.tgz'), 'imported:1', '--change', 'CMD ["cat","/etc/msg"]'], { root });
  assert.is(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^sha256:[0-9a-f]{64}\n$/);
  const before = { blobs: await blobs(), index: await index() };
  execFileSync('tar', ['-cPf', join(dir, 'abs.tar'), '/etc/hostname']);
  const abs = await kiln(['import', join(dir, 'abs.tar'), 'bad:1'], { root });
  assert.is(abs.code, 2);
  assert.match(abs.stderr, /abs\.tar: member "\/etc\/hostname" is an absolute path/);
  await writeFile(join(dir, 'cut.tgz'), (await readFile(join(dir, 'rootfs.tgz'))).subarray(0, 40));
  const cut = await kiln(['import', join(dir, 'cut.tgz'), 'bad:2'], { root });
  assert.is(cut.code, 2);
  assert.match(cut.stderr, /cut\.tgz/);
  const missing = await kiln(['import', join(dir, 'nope.tar')], { root });
  assert.is(missing.code, 3);
  assert.match(missing.stderr, /nope\.tar/);
  assert.equal({ blobs: await blobs(), index: await index() }, before, 'store unchanged');
});

test('kiln save and load round-trip both formats into a fresh root', async () => {
  for (const format of ['docker', 'oci']) {
    const file = join(dir, `${format}.tar`);
    const s = await kiln(['save', '-o', file, '--format', format, 'busybox', 'imported:1'], { root });
    assert.is(s.code, 0, s.stderr);
    const other = join(dir, `other-${format}`);
    const l = await kiln(['load', '-i', file], { root: other });
    assert.is(l.code, 0, l.stderr);
    assert.match(l.stdout, /Loaded image: busybox:latest/);
    assert.match(l.stdout, /Loaded image: imported:1/);
    const a = JSON.parse((await kiln(['inspect', 'imported:1'], { root })).stdout)[0].Id;
    const b = JSON.parse((await kiln(['inspect', 'imported:1'], { root: other })).stdout)[0].Id;
    assert.is(b, a, 'same image ID after the round trip');
  }
  const bad = await kiln(['load', '-i', join(dir, 'rootfs.tgz')], { root: join(dir, 'other-docker') });
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /rootfs\.tgz: not an image archive/);
});

test('kiln rmi untags, then deletes what nothing else needs', async () => {
  const shared = await blobs();
  const r1 = await kiln(['rmi', 'imported:1'], { root });
  assert.is(r1.code, 0, r1.stderr);
  assert.match(r1.stdout, /^Untagged: imported:1\nDeleted: sha256:/);
  assert.ok((await blobs()).length < shared.length);
  const many = await kiln(['rmi', JSON.parse((await kiln(['inspect', 'busybox'], { root })).stdout)[0].Id], { root });
  assert.is(many.code, 5, 'an ID with several tags needs -f');
  assert.match(many.stderr, /must be forced/);
  const t = await kiln(['rmi', '127.0.0.1:5000/team/app:1.2'], { root });
  assert.is(t.code, 0);
  assert.is(t.stdout, 'Untagged: 127.0.0.1:5000/team/app:1.2\n', 'busybox:latest still needs every blob');
  assert.is((await kiln(['inspect', 'busybox'], { root })).code, 0);
});

test('kiln store verify passes, then catches a flipped byte with a non-zero exit', async () => {
  const ok = await kiln(['store', 'verify'], { root });
  assert.is(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /^ok: \d+ blobs/);
  const layer = JSON.parse((await kiln(['inspect', 'busybox'], { root })).stdout)[0].Layers[0].digest as string;
  const p = join(root, 'oci/blobs/sha256', layer.slice(7));
  await chmod(p, 0o644);
  const buf = await readFile(p);
  buf[100] ^= 0xff;
  await writeFile(p, buf);
  const bad = await kiln(['store', 'verify'], { root });
  assert.is(bad.code, 1);
  assert.match(bad.stdout, new RegExp(`${layer}: content hashes to sha256:`));
  assert.match(bad.stderr, /is damaged: 1 problem/);
  buf[100] ^= 0xff;
  await writeFile(p, buf);
});

test('kiln du and kiln prune account for and reclaim unreferenced blobs', async () => {
  const junk = join(dir, 'junk.tar');
  execFileSync('sh', ['-c', `mkdir -p ${dir}/j && head -c 300000 /dev/urandom > ${dir}/j/rand && tar -C ${dir}/j -cf ${junk} .`]);
  assert.is((await kiln(['import', junk, 'junk:1'], { root })).code, 0);
  // Untag without deleting (as a re-tag does): the image becomes dangling.
  assert.is((await kiln(['tag', 'busybox', 'junk:1'], { root })).code, 0);
  const du = await kiln(['du'], { root });
  assert.is(du.code, 0, du.stderr);
  assert.match(du.stdout, /^TYPE\s+COUNT\s+SIZE\s+RECLAIMABLE/);
  assert.match(du.stdout, /Layers\s+\d+/);
  const dangling = (await kiln(['images'], { root })).stdout;
  assert.match(dangling, /<none>\s+<none>/);
  const p = await kiln(['prune', '--min-age', '0'], { root });
  assert.is(p.code, 0, p.stderr);
  assert.match(p.stdout, /Deleted Images:/);
  assert.match(p.stdout, /Total reclaimed space: 3\d\dkB/);
  assert.not.match((await kiln(['images'], { root })).stdout, /<none>/);
  assert.is((await kiln(['store', 'verify'], { root })).code, 0, 'busybox intact after prune');
});

test('kiln rmi refuses an image a container uses unless forced', async () => {
  const { createContainerStore } = await import('../../../src/containers/containers.js');
  const imageId = JSON.parse((await kiln(['inspect', 'busybox'], { root })).stdout)[0].Id as string;
  assert.is((await kiln(['tag', 'busybox', 'used:1'], { root })).code, 0);
  const store = createContainerStore({ root });
  const id = 'f'.repeat(64);
  await store.create({
    id,
    name: 'user_of_image',
    image: 'used:1',
    imageId,
    created: new Date().toISOString(),
    status: 'exited',
    autoRemove: false,
    detached: false,
    volumes: [],
    spec: {} as never,
  });
  const tags = JSON.parse((await kiln(['inspect', 'busybox'], { root })).stdout)[0].RepoTags as string[];
  const r = await kiln(['rmi', ...tags], { root });
  assert.is(r.code, 5, r.stdout + r.stderr);
  assert.match(r.stderr, /a container is using image/);
  assert.is((await kiln(['inspect', 'used:1'], { root })).code, 0, 'nothing was untagged');
  const partial = await kiln(['rmi', 'used:1'], { root });
  assert.is(partial.code, 0, 'untagging one of several tags is fine while in use');
  assert.is((await kiln(['rmi', '-f', ...tags.filter((t) => t !== 'used:1')], { root })).code, 0, '-f deletes anyway');
  await store.remove(id);
});

test.run();
