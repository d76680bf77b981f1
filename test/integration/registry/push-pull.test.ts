/**
 * kiln against a real registry (Debian's docker-registry on loopback, anonymous), checked with skopeo as an
 * independent client: what kiln pushes skopeo reads, what skopeo pushes kiln pulls.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import type { StoreRoot } from '../../../src/cache/root.js';
import { hostPlatform } from '../../../src/image/platform.js';
import { MediaType, type Manifest } from '../../../src/image/types.js';
import { createRegistryClient } from '../../../src/registry/client.js';
import { pullImage } from '../../../src/registry/pull.js';
import { pushImage } from '../../../src/registry/push.js';
import type { TransferEvent } from '../../../src/registry/types.js';
import { rejects } from '../../helpers/assert.js';
import { kiln } from '../../helpers/kiln-cli.js';
import { skopeo, startRegistry, type TestRegistry } from '../../helpers/registry.js';
import { makeImage, roots, tempFiles } from './fixture.js';

let reg: TestRegistry;
const r = roots();
let src: StoreRoot;

test.before(async () => {
  reg = await startRegistry();
  src = await r.make({ busybox: true });
});
test.after(async () => {
  await reg?.stop();
  await r.cleanup();
});

test('a pushed busybox image reads back in skopeo with the same digest and layers', async () => {
  const local = await src.images.resolve('busybox');
  const events: TransferEvent[] = [];
  const res = await pushImage(src, `${reg.host}/kiln/busybox:1.0`, { source: 'busybox', onProgress: (e) => events.push(e) });
  assert.is(res.digest, local.manifestDigest);
  assert.is(res.uploaded, 2, 'config and one layer uploaded');
  const info = JSON.parse(await skopeo(['inspect', '--tls-verify=false', `docker://${reg.host}/kiln/busybox:1.0`]));
  assert.is(info.Digest, local.manifestDigest);
  assert.equal(
    info.Layers,
    local.manifest.layers.map((l) => l.digest),
  );
  assert.ok(events.some((e) => e.type === 'blob' && e.status === 'uploading'));
  assert.ok(events.some((e) => e.type === 'done' && e.digest === local.manifestDigest));
});

test('a second push of the same image costs only manifest round trips', async () => {
  const reqs: string[] = [];
  const res = await pushImage(src, `${reg.host}/kiln/busybox:1.0`, { source: 'busybox', onRequest: (m, u) => reqs.push(`${m} ${new URL(u).pathname}`) });
  const api = reqs.filter((x) => x.includes('/v2/') && !x.endsWith('/v2/'));
  assert.equal(
    api.map((x) => x.replace(/sha256:[0-9a-f]+/, 'DIGEST')),
    ['HEAD /v2/kiln/busybox/manifests/DIGEST', 'PUT /v2/kiln/busybox/manifests/1.0'],
  );
  assert.is(res.uploaded, 0);
});

test('pull into an empty store gives the same manifest, verified blobs and the tag', async () => {
  const dst = await r.make();
  const res = await pullImage(dst, `${reg.host}/kiln/busybox:1.0`);
  const local = await src.images.resolve('busybox');
  assert.is(res.digest, local.manifestDigest);
  assert.is(res.fetched, 2);
  const img = await dst.images.resolve(`${reg.host}/kiln/busybox:1.0`);
  assert.is(img.manifestDigest, local.manifestDigest);
  assert.is(img.id, local.id);
  for (const l of img.manifest.layers) assert.ok(await dst.content.has(l.digest));
  assert.equal(await tempFiles(dst), []);
});

test('pull skips blobs the store already has, and pulls by digest', async () => {
  const local = await src.images.resolve('busybox');
  const reqs: string[] = [];
  const res = await pullImage(src, `${reg.host}/kiln/busybox@${local.manifestDigest}`, { onRequest: (m, u) => reqs.push(`${m} ${u}`) });
  assert.is(res.fetched, 0);
  assert.is(res.skipped, 2);
  assert.not.ok(
    reqs.some((x) => x.includes('/blobs/')),
    'no blob fetched',
  );
  assert.ok(await src.images.find(`${reg.host}/kiln/busybox@${local.manifestDigest}`));
  // Untagged, but pinned against prune by a GC root (kept until prune --all).
  const { collectGarbage } = await import('../../../src/cache/gc.js');
  const d2 = await r.make();
  await pullImage(d2, `${reg.host}/kiln/busybox@${local.manifestDigest}`);
  assert.equal(await d2.images.entries(), []);
  await collectGarbage(d2);
  assert.ok(await d2.content.has(local.manifest.layers[0]!.digest), 'a plain prune keeps a digest pull');
  await collectGarbage(d2, { all: true });
  assert.not.ok(await d2.content.has(local.manifest.layers[0]!.digest), 'prune --all removes it');
});

test('a push to a sibling repository mounts blobs instead of uploading them', async () => {
  const reqs: string[] = [];
  const res = await pushImage(src, `${reg.host}/other/busybox:1`, { source: 'busybox', onRequest: (m, u) => reqs.push(`${m} ${u}`) });
  assert.is(res.mounted, 2);
  assert.is(res.uploaded, 0);
  assert.not.ok(
    reqs.some((x) => /^(PUT|PATCH) .*\/blobs\/uploads\//.test(x)),
    'no bytes uploaded',
  );
  const info = JSON.parse(await skopeo(['inspect', '--tls-verify=false', `docker://${reg.host}/other/busybox:1`]));
  assert.is(info.Digest, (await src.images.resolve('busybox')).manifestDigest);
});

test('chunked uploads (PATCH with Content-Range, then PUT) produce an image skopeo reads', async () => {
  const { manifestDigest } = await makeImage(src, 'chunky:1', [700_000, 300_000]);
  const reqs: string[] = [];
  const res = await pushImage(src, `${reg.host}/kiln/chunky:1`, { source: 'chunky:1', chunkSize: 256 * 1024, onRequest: (m) => reqs.push(m) });
  assert.is(res.uploaded, 3);
  assert.ok(reqs.filter((m) => m === 'PATCH').length >= 4, 'several chunks per layer');
  const info = JSON.parse(await skopeo(['inspect', '--tls-verify=false', `docker://${reg.host}/kiln/chunky:1`]));
  assert.is(info.Digest, manifestDigest);
  // skopeo copies it out and verifies every blob.
  const out = await r.dir();
  await skopeo(['copy', '--src-tls-verify=false', `docker://${reg.host}/kiln/chunky:1`, `oci:${join(out, 'l')}:x`]);
});

test("what skopeo pushes (from kiln's OCI layout) kiln pulls, blob for blob", async () => {
  const local = await src.images.resolve('busybox');
  await skopeo(['copy', '--dest-tls-verify=false', `oci:${src.paths.oci}:docker.io/library/busybox:latest`, `docker://${reg.host}/skopeo/busybox:s`]);
  const dst = await r.make();
  const res = await pullImage(dst, `${reg.host}/skopeo/busybox:s`);
  const img = await dst.images.resolve(`${reg.host}/skopeo/busybox:s`);
  assert.is(img.id, local.id, 'same config');
  assert.equal(
    img.manifest.layers.map((l) => l.digest),
    local.manifest.layers.map((l) => l.digest),
  );
  assert.is(res.fetched, 2);
});

test('what skopeo pushes, `kiln pull` fetches and `kiln run` runs', async () => {
  await skopeo(['copy', '--dest-tls-verify=false', `oci:${src.paths.oci}:docker.io/library/busybox:latest`, `docker://${reg.host}/skopeo/run:1`]);
  const dst = await r.make();
  const pulled = await kiln(['pull', `${reg.host}/skopeo/run:1`], { root: dst.root });
  assert.is(pulled.code, 0, pulled.stderr);
  assert.match(pulled.stdout, new RegExp(`Status: Downloaded newer image for ${reg.host}/skopeo/run:1\n${reg.host}/skopeo/run:1\n$`));
  const ran = await kiln(['run', '--rm', `${reg.host}/skopeo/run:1`, 'sh', '-c', 'echo pulled-and-ran'], { root: dst.root });
  assert.is(ran.code, 0, ran.stderr);
  assert.is(ran.stdout, 'pulled-and-ran\n');
});

test('skopeo pushing a Docker schema2 manifest: kiln pulls it and keeps the media type', async () => {
  await skopeo([
    'copy',
    '--format',
    'v2s2',
    '--dest-tls-verify=false',
    `oci:${src.paths.oci}:docker.io/library/busybox:latest`,
    `docker://${reg.host}/skopeo/busybox:v2s2`,
  ]);
  const dst = await r.make();
  await pullImage(dst, `${reg.host}/skopeo/busybox:v2s2`);
  const img = await dst.images.resolve(`${reg.host}/skopeo/busybox:v2s2`);
  assert.is(img.mediaType, MediaType.DockerManifest);
  // ...and pushing it on keeps that media type (skopeo reads it back as the same digest).
  const res = await pushImage(dst, `${reg.host}/kiln/v2s2:1`, { source: `${reg.host}/skopeo/busybox:v2s2` });
  const raw = JSON.parse(await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/kiln/v2s2:1`])) as Manifest;
  assert.is(raw.mediaType, MediaType.DockerManifest);
  assert.is(res.digest, img.manifestDigest);
});

test('an image index: the host platform by default, --platform picks another, an absent one is a clear error', async () => {
  const host = hostPlatform();
  const other = host.architecture === 'arm64' ? { os: 'linux', architecture: 'amd64' } : { os: 'linux', architecture: 'arm64', variant: 'v8' };
  const a = await makeImage(src, 'multi:host', [1000]);
  const b = await makeImage(src, 'multi:other', [2000], other);
  await pushImage(src, `${reg.host}/kiln/multi:host`, { source: 'multi:host' });
  await pushImage(src, `${reg.host}/kiln/multi:other`, { source: 'multi:other' });
  const desc = async (tag: string, platform: object) => {
    const rec = await src.images.resolve(tag);
    return { mediaType: rec.mediaType, digest: rec.manifestDigest, size: rec.descriptor.size, platform };
  };
  const index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [await desc('multi:other', other), await desc('multi:host', host)] };
  const body = Buffer.from(JSON.stringify(index));
  const client = createRegistryClient();
  const { createHash } = await import('node:crypto');
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  await client.pusher({ registry: reg.host, repository: 'kiln/multi' }).putManifest({ mediaType: MediaType.OciIndex, digest, size: body.length }, body, 'all');
  client.close();

  const d1 = await r.make();
  const res = await pullImage(d1, `${reg.host}/kiln/multi:all`);
  assert.is(res.digest, digest, "the repository digest is the index's");
  assert.is(res.manifest.digest, a.manifestDigest);
  const d2 = await r.make();
  const res2 = await pullImage(d2, `${reg.host}/kiln/multi:all`, { platform: `${other.os}/${other.architecture}` });
  assert.is(res2.manifest.digest, b.manifestDigest);
  assert.ok(await d2.content.has(b.layers[0]!.digest));
  assert.not.ok(await d2.content.has(a.layers[0]!.digest), "the other platform's layers are not fetched");
  const d3 = await r.make();
  await rejects(() => pullImage(d3, `${reg.host}/kiln/multi:all`, { platform: 'linux/s390x' }), 'IMAGE_NOT_FOUND', /no manifest for platform linux\/s390x/);
  assert.equal(await d3.images.entries(), []);
});

test('a local tag naming an index pushes every child manifest, then the index under the tag', async () => {
  const host = hostPlatform();
  const other = host.architecture === 'arm64' ? { os: 'linux', architecture: 'amd64' } : { os: 'linux', architecture: 'arm64', variant: 'v8' };
  const a = await src.images.resolve('multi:host');
  const b = await src.images.resolve('multi:other');
  const index = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: [
      { mediaType: a.mediaType, digest: a.manifestDigest, size: a.descriptor.size, platform: host },
      { mediaType: b.mediaType, digest: b.manifestDigest, size: b.descriptor.size, platform: other },
    ],
  };
  const info = await src.content.writeBuffer(JSON.stringify(index));
  await src.images.tag('multi:index', { mediaType: MediaType.OciIndex, digest: info.digest, size: info.size });
  const res = await pushImage(src, `${reg.host}/kiln/pushed-index:1`, { source: 'multi:index' });
  assert.is(res.digest, info.digest);
  const raw = JSON.parse(await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/kiln/pushed-index:1`]));
  assert.is(raw.mediaType, MediaType.OciIndex);
  assert.equal(
    raw.manifests.map((m: { digest: string }) => m.digest),
    [a.manifestDigest, b.manifestDigest],
  );
  const out = await r.dir();
  await skopeo(['copy', '--all', '--src-tls-verify=false', `docker://${reg.host}/kiln/pushed-index:1`, `oci:${join(out, 'l')}:x`]);
});

test('an explicit --platform that a single-platform image does not match is refused, nothing tagged', async () => {
  const d = await r.make();
  const other = hostPlatform().architecture === 's390x' ? 'linux/amd64' : 'linux/s390x';
  await rejects(() => pullImage(d, `${reg.host}/kiln/busybox:1.0`, { platform: other }), 'IMAGE_NOT_FOUND', /does not match the requested platform/);
  assert.equal(await d.images.entries(), []);
  await pullImage(d, `${reg.host}/kiln/busybox:1.0`, { platform: `linux/${hostPlatform().architecture}` });
});

test('unknown tags and repositories are clear errors naming registry and repository', async () => {
  const d = await r.make();
  await rejects(
    () => pullImage(d, `${reg.host}/kiln/busybox:nope`),
    'REGISTRY_NOT_FOUND',
    new RegExp(`${reg.host.replace(/\./g, '\\.')}/kiln/busybox: manifest "nope".*MANIFEST_UNKNOWN`),
  );
  await rejects(() => pullImage(d, `${reg.host}/nobody/here:1`), 'REGISTRY_NOT_FOUND', /nobody\/here/);
  await rejects(() => pushImage(d, `${reg.host}/kiln/x:1`, { source: 'absent:tag' }), 'IMAGE_NOT_FOUND');
});

test.run();
