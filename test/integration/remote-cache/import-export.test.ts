/**
 * Cache export on one root and import on a fresh one (two machines' worth of state), against Debian's
 * docker-registry on loopback behind a counting proxy, an OCI layout directory, and inline cache.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHarness, executedSteps, type Harness } from '../builder/harness.js';
import { startRegistry, skopeo, type TestRegistry } from '../../helpers/registry.js';
import { startFaultProxy, type FaultProxy } from '../registry/fault-proxy.js';
import { parseCacheExport, parseCacheImport } from '../../../src/remote-cache/spec.js';
import type { BuildOptions } from '../../../src/builder/types.js';
import { pushImage } from '../../../src/registry/push.js';
import { openRoot } from '../../../src/cache/root.js';

let reg: TestRegistry;
let proxy: FaultProxy;
let dir: string;
const open: Harness[] = [];

test.before(async () => {
  reg = await startRegistry();
  proxy = await startFaultProxy(reg.host);
  dir = await mkdtemp(join(tmpdir(), 'kiln-remote-cache-'));
});
test.after(async () => {
  for (const h of open) await h.close().catch(() => undefined);
  await proxy?.stop();
  await reg?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function harness(): Promise<Harness> {
  const h = await createHarness();
  open.push(h);
  return h;
}

const DOCKERFILE = `FROM busybox AS builder
ARG PKG=1
RUN --mount=type=cache,target=/var/cache/pkgs,id=pkgs sh -c 'ls /var/cache/pkgs > /seen-\${PKG}; echo \${PKG} >> /var/cache/pkgs/fetched-\${PKG}'
COPY lib.txt /src/lib.txt
RUN sh -c 'cat /src/lib.txt > /lib.out; head -c 100000 /dev/urandom > /noise'
FROM busybox
COPY --from=builder /lib.out /app/lib.out
COPY app.txt /app/app.txt
RUN sh -c 'cat /app/*.out /app/app.txt > /app/all.txt'
`;

async function project(h: Harness, app = 'app v1\n'): Promise<string> {
  return h.context({ Dockerfile: DOCKERFILE, 'lib.txt': 'lib v1\n', 'app.txt': app });
}

function opts(extra: Partial<BuildOptions>): Partial<BuildOptions> {
  return { tags: ['app:1'], ...extra };
}

test('registry cache, mode=max: a fresh root builds the identical image with no step run, fetching only the final layers', async () => {
  const a = await harness();
  const ref = `${proxy.host}/cache/app:max`;
  const built = await a.build(await project(a), opts({ cacheTo: [parseCacheExport(`type=registry,ref=${ref},mode=max`)] }));
  assert.ok(built.stepsExecuted >= 4);

  // skopeo sees BuildKit's layout: an OCI manifest whose config is the cache config, layers annotated.
  const raw = JSON.parse(await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/cache/app:max`]));
  assert.is(raw.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  assert.is(raw.config.mediaType, 'application/vnd.buildkit.cacheconfig.v0');
  assert.ok(raw.layers.length >= 5, 'every step layer of both stages and the cache mount');
  for (const l of raw.layers) assert.match(l.annotations['containerd.io/uncompressed'], /^sha256:[0-9a-f]{64}$/);

  const b = await harness();
  proxy.log.length = 0;
  const again = await b.build(await project(b), opts({ cacheFrom: [parseCacheImport(ref)] }));
  assert.equal(executedSteps(again.events), []);
  assert.is(again.stepsExecuted, 0);
  assert.is(again.manifestDigest, built.manifestDigest, 'identical image digest');
  // The final image's own step layers (3: COPY --from, COPY, RUN) and nothing of the builder stage.
  const blobGets = proxy.log.filter((r) => r.method === 'GET' && r.path.includes('/blobs/'));
  const configGets = blobGets.filter((r) => r.path.endsWith(raw.config.digest));
  assert.is(configGets.length, 1, 'the cache config is fetched once');
  assert.is(blobGets.length - configGets.length, 3, JSON.stringify(blobGets.map((r) => r.path)));
  assert.is(again.cacheImport?.blobsFetched, 3);
  const manifestGets = proxy.log.filter((r) => r.method === 'GET' && r.path.includes('/manifests/'));
  assert.is(manifestGets.length, 1);
  // The tree is whole.
  const tree = await b.tree('app:1');
  assert.ok(tree.some((e) => e.path === 'app/all.txt'));

  // A one-file change re-runs exactly the steps that depend on it.
  const changed = await b.build(await project(b, 'app v2\n'), opts({ cacheFrom: [parseCacheImport(ref)] }));
  assert.equal(executedSteps(changed.events), ['COPY app.txt /app/app.txt', "RUN sh -c 'cat /app/*.out /app/app.txt > /app/all.txt'"]);

  // A cache mount's contents written on root A are there for the same RUN on root B (it re-runs: PKG changed).
  const warm = await b.build(await project(b), opts({ buildArgs: { PKG: '2' }, cacheFrom: [parseCacheImport(ref)] }));
  assert.ok(executedSteps(warm.events).some((s) => s.startsWith('RUN --mount=type=cache')));
  const mountsDir = join(b.rootDir, 'build-cache', 'mounts');
  const { readdir } = await import('node:fs/promises');
  const ids = await readdir(mountsDir);
  assert.is(ids.length, 1);
  assert.equal((await readdir(join(mountsDir, ids[0]!))).sort(), ['fetched-1', 'fetched-2']);
});

test('store=false push of a build that hit in a registry cache mounts its layers from the cache: none downloaded', async () => {
  const a = await harness();
  const ref = `${proxy.host}/cache/app:push`;
  const built = await a.build(await project(a), opts({ cacheTo: [parseCacheExport(`type=registry,ref=${ref},mode=max`)] }));
  const b = await harness();
  proxy.log.length = 0;
  const target = `${proxy.host}/team/app:pushed`;
  const pushed = await b.build(await project(b), {
    tags: [target],
    outputs: [{ type: 'image', push: true, store: false }],
    cacheFrom: [parseCacheImport(ref)],
  });
  assert.is(pushed.stepsExecuted, 0);
  assert.is(pushed.manifestDigest, built.manifestDigest);
  assert.is(pushed.cacheImport?.blobsFetched, 0, 'no layer downloaded');
  const layerGets = proxy.log.filter((r) => r.method === 'GET' && r.path.includes('/blobs/'));
  assert.is(layerGets.length, 1, `only the cache config: ${JSON.stringify(layerGets.map((r) => r.path))}`);
  const mounts = proxy.log.filter((r) => r.method === 'POST' && r.query.includes('mount=') && r.query.includes('from=cache'));
  assert.is(mounts.length, 3, 'the three layers of the final stage are mounted from the cache repository');
  const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/team/app:pushed`]);
  const { createHash } = await import('node:crypto');
  assert.is(`sha256:${createHash('sha256').update(raw).digest('hex')}`, built.manifestDigest);
  // Not in the local store: store=false.
  await b.image(target).then(
    () => assert.unreachable('stored locally'),
    (e: { code?: string }) => assert.is(e.code, 'IMAGE_NOT_FOUND'),
  );
});

test('cache mounts: private ones never travel, the size budget is kept, and an unchanged re-export uploads nothing', async () => {
  const a = await harness();
  const ref = `${proxy.host}/cache/mounts:1`;
  const df = [
    'FROM busybox',
    "RUN --mount=type=cache,target=/shared,id=shared sh -c 'echo s > /shared/s; echo 1 > /one'",
    "RUN --mount=type=cache,target=/private,id=private,sharing=private sh -c 'echo p > /private/p; echo 2 > /two'",
    "RUN --mount=type=cache,target=/big,id=big sh -c 'head -c 300000 /dev/urandom > /big/blob; echo 3 > /three'",
    '',
  ].join('\n');
  const ctx = await a.context({ Dockerfile: df });
  const spec = parseCacheExport(`type=registry,ref=${ref},mode=max,cache-mount-max-size=100k`);
  const built = await a.build(ctx, { cacheTo: [spec] });
  assert.ok(built.events.some((e) => e.type === 'warning' && /cache mount .* not exported \(cache-mount-max-size=\)/.test(e.message)));
  const raw = JSON.parse(await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/cache/mounts:1`]));
  // Three step layers and one cache mount (the shared one: the private one never, the big one over budget).
  assert.is(raw.layers.length, 4, JSON.stringify(raw.layers.map((l: { size: number }) => l.size)));

  proxy.log.length = 0;
  await a.build(ctx, { cacheTo: [spec] });
  const uploads = proxy.log.filter((r) => r.method === 'POST' && r.path.includes('/blobs/uploads/'));
  assert.is(uploads.length, 0, 'every blob was HEADed and found');
  assert.ok(proxy.log.some((r) => r.method === 'HEAD' && r.path.includes('/blobs/')));
});

test('local cache directory: exported atomically, imported by a fresh root; old blobs pruned', async () => {
  const a = await harness();
  const cacheDir = join(dir, 'ci-cache');
  const first = await a.build(await project(a), opts({ cacheTo: [parseCacheExport(`type=local,dest=${cacheDir},mode=max`)] }));
  const index = JSON.parse(await readFile(join(cacheDir, 'index.json'), 'utf8'));
  assert.is(index.manifests.length, 1);
  assert.is(index.manifests[0].annotations['org.opencontainers.image.ref.name'], 'latest');
  const b = await harness();
  const again = await b.build(await project(b), opts({ cacheFrom: [parseCacheImport(`type=local,src=${cacheDir}`)] }));
  assert.is(again.stepsExecuted, 0);
  assert.is(again.manifestDigest, first.manifestDigest);
  // Re-export after a change: blobs only the old cache named are gone, the new index names what is there.
  const { readdir } = await import('node:fs/promises');
  const before = new Set(await readdir(join(cacheDir, 'blobs', 'sha256')));
  await b.build(
    await project(b, 'app v3\n'),
    opts({ cacheFrom: [parseCacheImport(`type=local,src=${cacheDir}`)], cacheTo: [parseCacheExport(`type=local,dest=${cacheDir},mode=max`)] }),
  );
  const after = new Set(await readdir(join(cacheDir, 'blobs', 'sha256')));
  assert.ok(
    [...before].some((x) => !after.has(x)),
    'an old blob was pruned',
  );
  const umoci = JSON.parse(await readFile(join(cacheDir, 'index.json'), 'utf8'));
  const m = JSON.parse(await readFile(join(cacheDir, 'blobs', 'sha256', umoci.manifests[0].digest.slice(7)), 'utf8'));
  for (const d of [m.config, ...m.layers]) assert.ok(after.has(d.digest.slice(7)), `blob ${d.digest} present`);
});

test('inline cache: the pushed image carries its cache; --cache-from IMAGE on a fresh root hits', async () => {
  const a = await harness();
  const ref = `${reg.host}/cache/inline:1`;
  const built = await a.build(await project(a), { tags: [ref], cacheTo: [parseCacheExport('type=inline')] });
  const root = await openRoot(a.rootDir);
  try {
    await pushImage(root, ref);
  } finally {
    await root.close();
  }
  const cfg = JSON.parse(await skopeo(['inspect', '--config', '--raw', '--tls-verify=false', `docker://${ref}`]));
  const inline = JSON.parse(Buffer.from(cfg['moby.buildkit.cache.v0'], 'base64').toString('utf8'));
  assert.is(inline.records.length, 3, "the final stage's three steps (inline is mode=min)");
  const b = await harness();
  const again = await b.build(await project(b), { tags: [ref], cacheFrom: [parseCacheImport(ref)], cacheTo: [parseCacheExport('type=inline')] });
  // The builder stage is not in an inline cache, so it runs again (and writes random bytes, so its identity
  // changes); COPY --from then hits by the content it copies, and the final stage's steps all hit.
  assert.equal(executedSteps(again.events), [
    "RUN --mount=type=cache,target=/var/cache/pkgs,id=pkgs sh -c 'ls /var/cache/pkgs > /seen-${PKG}; echo ${PKG} >> /var/cache/pkgs/fetched-${PKG}'",
    'COPY lib.txt /src/lib.txt',
    "RUN sh -c 'cat /src/lib.txt > /lib.out; head -c 100000 /dev/urandom > /noise'",
  ]);
  assert.is(again.manifestDigest, built.manifestDigest, 'identical image, inline cache included');

  // A single-stage project: every step is in the image, so a fresh root runs none.
  const single = 'FROM busybox\nCOPY app.txt /app/\nRUN sh -c "cat /app/app.txt > /app/copy; head -c 10000 /dev/urandom > /app/noise"\n';
  const c = await harness();
  const ref2 = `${reg.host}/cache/inline:single`;
  const one = await c.build(await c.context({ Dockerfile: single, 'app.txt': 'x\n' }), { tags: [ref2], cacheTo: [parseCacheExport('type=inline')] });
  const rootC = await openRoot(c.rootDir);
  try {
    await pushImage(rootC, ref2);
  } finally {
    await rootC.close();
  }
  const d = await harness();
  const two = await d.build(await d.context({ Dockerfile: single, 'app.txt': 'x\n' }), {
    tags: [ref2],
    cacheFrom: [parseCacheImport(ref2)],
    cacheTo: [parseCacheExport('type=inline')],
  });
  assert.is(two.stepsExecuted, 0);
  assert.is(two.manifestDigest, one.manifestDigest);
});

test('an export interrupted by a registry fault fails the build and leaves the previous cache usable', async () => {
  const a = await harness();
  const ref = `${proxy.host}/cache/app:fault`;
  await a.build(await project(a), opts({ cacheTo: [parseCacheExport(`type=registry,ref=${ref},mode=max`)] }));
  const prev = JSON.parse(await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/cache/app:fault`]));
  // Every upload start fails from now on (more than the client's retries).
  proxy.fault({ method: 'POST', path: /\/blobs\/uploads\// }, { kind: 'status', status: 500 }, 100);
  proxy.fault({ method: 'PUT', path: /\/blobs\/uploads\// }, { kind: 'status', status: 500 }, 100);
  const err = await a.build(await project(a, 'app changed\n'), opts({ cacheTo: [parseCacheExport(`type=registry,ref=${ref},mode=max`)] })).then(
    () => undefined,
    (e: unknown) => e as { code?: string; message: string },
  );
  proxy.clear();
  assert.ok(err, 'the build fails');
  assert.match(err!.message, /exporting cache to/);
  const still = JSON.parse(await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/cache/app:fault`]));
  assert.equal(still, prev, 'the tag still names the previous, whole cache');
  const b = await harness();
  const again = await b.build(await project(b), opts({ cacheFrom: [parseCacheImport(ref)] }));
  assert.is(again.stepsExecuted, 0);

  // With ignore-error=true the same fault only warns.
  proxy.fault({ method: 'POST', path: /\/blobs\/uploads\// }, { kind: 'status', status: 500 }, 100);
  const ok = await a.build(
    await project(a, 'app changed again\n'),
    opts({ cacheTo: [parseCacheExport(`type=registry,ref=${ref},mode=max,ignore-error=true`)] }),
  );
  proxy.clear();
  assert.ok(ok.events.some((e) => e.type === 'warning' && /ignore-error=true/.test(e.message)));
});

test('a registry that refuses the cache config media type gets the index layout, which imports alike', async () => {
  const a = await harness();
  const ref = `${proxy.host}/cache/app:index`;
  proxy.fault(
    { method: 'PUT', path: /\/manifests\// },
    { kind: 'status', status: 400, body: '{"errors":[{"code":"MANIFEST_INVALID","message":"unknown config media type"}]}' },
    1,
  );
  const built = await a.build(await project(a), opts({ cacheTo: [parseCacheExport(`type=registry,ref=${ref},mode=max`)] }));
  proxy.clear();
  assert.ok(built.events.some((e) => e.type === 'warning' && /image index instead/.test(e.message)));
  const raw = JSON.parse(await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/cache/app:index`]));
  assert.is(raw.mediaType, 'application/vnd.oci.image.index.v1+json');
  assert.ok(raw.manifests.some((d: { mediaType: string }) => d.mediaType === 'application/vnd.buildkit.cacheconfig.v0'));
  const b = await harness();
  const again = await b.build(await project(b), opts({ cacheFrom: [parseCacheImport(ref)] }));
  assert.is(again.stepsExecuted, 0);
  assert.is(again.manifestDigest, built.manifestDigest);
});

test('--cache-from a reference that does not exist warns and builds without it', async () => {
  const a = await harness();
  const r = await a.build(await project(a), opts({ cacheFrom: [parseCacheImport(`${reg.host}/cache/none:1`)] }));
  assert.ok(r.stepsExecuted > 0);
  assert.ok(r.events.some((e) => e.type === 'warning' && /no cache there yet/.test(e.message)));
  // A plain image (no inline cache) as --cache-from, as legacy-builder users pass one: a warning that says so.
  const plain = `${reg.host}/cache/plain:1`;
  await a.build(await project(a), { tags: [plain] });
  const root = await openRoot(a.rootDir);
  try {
    await pushImage(root, plain);
  } finally {
    await root.close();
  }
  const w = await a.build(await project(a), opts({ cacheFrom: [parseCacheImport(plain)] }));
  assert.ok(
    w.events.some((e) => e.type === 'warning' && /an image without inline cache \(build it with --cache-to type=inline/.test(e.message)),
    JSON.stringify(w.events.filter((e) => e.type === 'warning')),
  );
});

test.run();
