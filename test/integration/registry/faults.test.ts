/**
 * A fault-injecting proxy between kiln and a real registry (htpasswd Basic auth): resets, 5xx and 429, cut and
 * stalled bodies, flipped bytes, oversized manifests, a manifest naming a missing blob, a storage redirect to
 * another host, rejected uploads. Transient faults are retried (bounded) and resumed; bad content is refused
 * with nothing half-written: no tag, no blob, no temp file.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, request } from 'node:http';
import type { StoreRoot } from '../../../src/cache/root.js';
import { pullImage, type PullOptions } from '../../../src/registry/pull.js';
import { pushImage } from '../../../src/registry/push.js';
import type { TransferEvent } from '../../../src/registry/types.js';
import { rejects } from '../../helpers/assert.js';
import { skopeo, startRegistry, type TestRegistry } from '../../helpers/registry.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { makeImage, roots, tempFiles } from './fixture.js';

const PASSWORD = 'p4ss-w0rd-never-shown';
let reg: TestRegistry;
let proxy: FaultProxy;
const r = roots();
let src: StoreRoot;
let layers: string[] = [];
let manifestDigest = '';
let repo = '';
const creds = async () => ({ username: 'kiln', password: PASSWORD });
const fast = { credentials: creds, backoffMs: 5, maxAttempts: 4 } satisfies PullOptions;

test.before(async () => {
  reg = await startRegistry({ auth: 'basic', users: { kiln: PASSWORD } });
  proxy = await startFaultProxy(reg.host);
  src = await r.make();
  const img = await makeImage(src, 'fault:1', [1_500_000, 400_000]);
  layers = img.layers.map((l) => l.digest);
  manifestDigest = img.manifestDigest;
  repo = `${proxy.host}/faults/img`;
  await pushImage(src, `${repo}:1`, { source: 'fault:1', credentials: creds });
});
test.before.each(() => proxy.clear());
test.after(async () => {
  await proxy?.stop();
  await reg?.stop();
  await r.cleanup();
});

const blobPath = (d: string) => new RegExp(`/blobs/${d}$`);
const requestsFor = (d: string) => proxy.log.filter((x) => x.path.endsWith(`/blobs/${d}`));

/** Nothing half-written: no tag, no temp file, none of the image's blobs. */
async function assertUntouched(root: StoreRoot, ref: string): Promise<void> {
  assert.is(await root.images.find(ref), undefined, 'no tag');
  assert.equal(await tempFiles(root), [], 'no temp file');
}

test('connection resets, 503 and 429 are retried and the pull completes', async () => {
  proxy.fault({ method: 'GET', path: /\/manifests\/1$/ }, { kind: 'status', status: 429, headers: { 'retry-after': '0' } });
  proxy.fault({ method: 'GET', path: blobPath(layers[0]!) }, { kind: 'reset' });
  proxy.fault({ method: 'GET', path: blobPath(layers[1]!) }, { kind: 'status', status: 503 }, 2);
  const dst = await r.make();
  const res = await pullImage(dst, `${repo}:1`, fast);
  assert.is(res.digest, manifestDigest);
  assert.is(requestsFor(layers[0]!).length, 2);
  assert.is(requestsFor(layers[1]!).length, 3);
  assert.is(proxy.log.filter((x) => x.path.endsWith('/manifests/1')).length, 2);
});

test('a manifest body cut by a reset is fetched again', async () => {
  proxy.fault({ method: 'GET', path: /\/manifests\/1$/ }, { kind: 'truncate', after: 100 });
  const dst = await r.make();
  const res = await pullImage(dst, `${repo}:1`, fast);
  assert.is(res.digest, manifestDigest);
  assert.is(proxy.log.filter((x) => x.path.endsWith('/manifests/1')).length, 2);
});

test('a body cut mid-stream is resumed with Range from the bytes already verified-in-progress', async () => {
  proxy.fault({ method: 'GET', path: blobPath(layers[0]!) }, { kind: 'truncate', after: 600_000 });
  const dst = await r.make();
  const events: TransferEvent[] = [];
  await pullImage(dst, `${repo}:1`, { ...fast, onProgress: (e) => events.push(e) });
  const reqs = requestsFor(layers[0]!);
  assert.is(reqs.length, 2);
  assert.is(reqs[0]!.range, undefined);
  assert.match(reqs[1]!.range ?? '', /^bytes=\d+-$/);
  const from = Number(/bytes=(\d+)-/.exec(reqs[1]!.range!)![1]);
  assert.ok(from > 0 && from <= 600_000, `resumed at ${from}`);
  assert.ok(await dst.content.has(layers[0]!));
  assert.ok(events.some((e) => e.type === 'blob' && e.status === 'retrying'));
});

test('a body stalled past the idle timeout is abandoned and fetched again', async () => {
  proxy.fault({ method: 'GET', path: blobPath(layers[1]!) }, { kind: 'stall', after: 50_000, ms: 8_000 });
  const dst = await r.make();
  const t0 = Date.now();
  await pullImage(dst, `${repo}:1`, { ...fast, idleTimeoutMs: 1_500 });
  assert.ok(Date.now() - t0 < 7_000, 'did not wait for the stall to end');
  assert.is(requestsFor(layers[1]!).length, 2);
  assert.ok(await dst.content.has(layers[1]!));
});

test('a blob whose bytes do not match its digest is refused; nothing is kept', async () => {
  proxy.fault({ method: 'GET', path: blobPath(layers[1]!) }, { kind: 'corrupt' }, 100);
  const dst = await r.make();
  await rejects(() => pullImage(dst, `${repo}:1`, fast), 'DIGEST_MISMATCH', new RegExp(`faults/img: blob ${layers[1]}.*refused`));
  await assertUntouched(dst, `${repo}:1`);
  assert.not.ok(await dst.content.has(layers[1]!));
});

test('a blob cut short on every attempt fails after bounded retries, leaving nothing', async () => {
  proxy.fault({ method: 'GET', path: blobPath(layers[0]!) }, { kind: 'truncate', after: 1000 }, 100);
  const dst = await r.make();
  const err = await rejects(() => pullImage(dst, `${repo}:1`, fast), 'REGISTRY_UNAVAILABLE');
  assert.match(err.message, /faults\/img: blob .*after 4 attempts/, err.message);
  assert.is(requestsFor(layers[0]!).length, 4);
  await assertUntouched(dst, `${repo}:1`);
  assert.not.ok(await dst.content.has(layers[0]!));
});

test('a manifest over 4 MiB is refused, with or without Content-Length', async () => {
  const big = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', pad: 'x'.repeat(5 << 20) });
  const headers = { 'content-type': 'application/vnd.oci.image.manifest.v1+json' };
  const dst = await r.make();
  proxy.fault({ method: 'GET', path: /\/manifests\/1$/ }, { kind: 'replace', body: big, headers });
  await rejects(() => pullImage(dst, `${repo}:1`, fast), 'MANIFEST_TOO_LARGE', /faults\/img: manifest "1" is larger than 4194304 bytes/);
  proxy.fault({ method: 'GET', path: /\/manifests\/1$/ }, { kind: 'replace', body: big, headers, chunked: true });
  await rejects(() => pullImage(dst, `${repo}:1`, fast), 'MANIFEST_TOO_LARGE');
  await assertUntouched(dst, `${repo}:1`);
});

test('a manifest naming a blob the registry lacks fails naming the blob, registry and repository', async () => {
  const missing = `sha256:${'0'.repeat(63)}1`;
  proxy.fault({ method: 'GET', path: /\/manifests\/1$/ }, { kind: 'rewrite', fn: (b) => Buffer.from(b.toString().replace(layers[1]!, missing)) });
  const dst = await r.make();
  await rejects(() => pullImage(dst, `${repo}:1`, fast), 'REGISTRY_NOT_FOUND', new RegExp(`${proxy.host}/faults/img: blob ${missing}: not found`));
  await assertUntouched(dst, `${repo}:1`);
});

test("a storage redirect to another host is followed without the registry's credentials", async () => {
  const seenAuth: Array<string | undefined> = [];
  // "Storage": another origin (localhost vs 127.0.0.1, another port) serving the blob it reads from the registry.
  const storage = createServer((req, res) => {
    seenAuth.push(req.headers.authorization);
    const digest = req.url!.split('/').pop();
    request(
      {
        host: '127.0.0.1',
        port: reg.port,
        path: `/v2/faults/img/blobs/${digest}`,
        headers: { authorization: `Basic ${Buffer.from(`kiln:${PASSWORD}`).toString('base64')}` },
      },
      (up) => {
        res.writeHead(up.statusCode!, { 'content-length': up.headers['content-length']! });
        up.pipe(res);
      },
    ).end();
  });
  await new Promise<void>((ok) => storage.listen(0, '127.0.0.1', ok));
  const sport = (storage.address() as { port: number }).port;
  try {
    proxy.fault(
      { method: 'GET', path: /\/blobs\/sha256:/ },
      { kind: 'redirect', location: (p) => `http://localhost:${sport}/storage/${p.split('/').pop()}` },
      10,
    );
    const dst = await r.make();
    await pullImage(dst, `${repo}:1`, fast);
    assert.is(seenAuth.length, 3, 'config and both layers came from storage');
    assert.equal(seenAuth, [undefined, undefined, undefined], 'no Authorization header reached the other host');
    assert.ok(
      proxy.log.filter((x) => x.path.includes('/blobs/')).every((x) => x.authorization),
      'the registry itself got credentials',
    );
    for (const d of layers) assert.ok(await dst.content.has(d));
  } finally {
    storage.closeAllConnections();
    await new Promise<void>((ok) => storage.close(() => ok()));
  }
});

test('push: a reset upload starts over with a new upload', async () => {
  await makeImage(src, 'fault:mono', [900_000]);
  proxy.fault({ method: 'PUT', path: /\/blobs\/uploads\// }, { kind: 'reset' });
  await pushImage(src, `${proxy.host}/faults/mono:1`, { ...fast, source: 'fault:mono' });
  const posts = proxy.log.filter((x) => x.method === 'POST').length;
  assert.is(posts, 3, 'config, layer, and one more upload after the reset');
  await skopeo(['inspect', '--tls-verify=false', `--creds=kiln:${PASSWORD}`, `docker://${proxy.host}/faults/mono:1`]);
});

test('push: a failed chunk is resent from the offset the registry reports', async () => {
  const img = await makeImage(src, 'fault:chunked', [900_000]);
  // The config goes up first (concurrency 1) in one PATCH; the layer's first chunk passes, its second fails.
  proxy.fault({ method: 'PATCH', path: /\/blobs\/uploads\// }, { kind: 'status', status: 502 }, 1, 2);
  const ref = `${proxy.host}/faults/chunked:1`;
  await pushImage(src, ref, { ...fast, source: 'fault:chunked', chunkSize: 256 * 1024, concurrency: 1 });
  const log = proxy.log.filter((x) => x.method === 'PATCH' || (x.method === 'GET' && x.path.includes('/uploads/')));
  const failed = log.findIndex((x) => x.fault === 'status');
  assert.ok(failed > 0, 'a later PATCH failed');
  assert.is(log[failed + 1]?.method, 'GET', 'the upload status was asked');
  assert.is(log[failed + 2]?.method, 'PATCH');
  assert.is(log[failed + 2]?.contentRange, log[failed]!.contentRange, "the chunk was resent from the registry's offset");
  assert.match(log[failed]!.contentRange ?? '', /^262144-/);
  const info = JSON.parse(await skopeo(['inspect', '--tls-verify=false', `--creds=kiln:${PASSWORD}`, `docker://${ref}`]));
  assert.ok(info.Layers.includes(img.layers[0]!.digest));
});

test('push: OCI-Chunk-Min-Length from the registry raises the chunk size', async () => {
  await makeImage(src, 'fault:minchunk', [1_000_000]);
  proxy.fault({ method: 'POST', path: /\/blobs\/uploads\/$/ }, { kind: 'headers', headers: { 'oci-chunk-min-length': '400000' } }, 10);
  await pushImage(src, `${proxy.host}/faults/minchunk:1`, { ...fast, source: 'fault:minchunk', chunkSize: 64 * 1024 });
  const ranges = proxy.log.filter((x) => x.method === 'PATCH').map((x) => x.contentRange);
  assert.ok(ranges.includes('0-399999'), ranges.join(' '));
  assert.ok(ranges.includes('400000-799999'), ranges.join(' '));
});

test('403 from the registry is REGISTRY_DENIED naming registry and repository', async () => {
  const body = JSON.stringify({ errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }] });
  proxy.fault({ method: 'PUT', path: /\/manifests\/1$/ }, { kind: 'status', status: 403, body });
  await rejects(
    () => pushImage(src, `${proxy.host}/faults/denied:1`, { ...fast, source: 'fault:1' }),
    'REGISTRY_DENIED',
    new RegExp(`${proxy.host}/faults/denied: manifest "1": access denied \\(DENIED`),
  );
});

test('a rejected upload (BLOB_UPLOAD_INVALID) is a clear error and no manifest is written', async () => {
  const body = JSON.stringify({ errors: [{ code: 'BLOB_UPLOAD_INVALID', message: 'blob upload invalid' }] });
  proxy.fault({ method: 'PUT', path: /\/blobs\/uploads\// }, { kind: 'status', status: 400, body }, 100);
  await makeImage(src, 'fault:rejected', [10_000]);
  const err = await rejects(
    () => pushImage(src, `${proxy.host}/faults/rejected:1`, { ...fast, source: 'fault:rejected' }),
    'REGISTRY_PROTOCOL',
    new RegExp(`${proxy.host}/faults/rejected: upload of sha256:[0-9a-f]+: unexpected status 400 \\(BLOB_UPLOAD_INVALID`),
  );
  assert.not.ok(proxy.log.some((x) => x.method === 'PUT' && x.path.includes('/manifests/')));
  assert.not.match(JSON.stringify({ m: err.message, h: (err as any).hint, d: (err as any).details }), new RegExp(PASSWORD));
});

test.run();
