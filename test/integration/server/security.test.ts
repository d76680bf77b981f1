import { test } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { startServe, type Served } from './serve-helper.js';
import { tarOf } from '../../helpers/tar.js';

let s: Served;

test.before(async () => {
  s = await startServe({ token: true, args: ['--max-context-size', '256k'] });
});
test.after(async () => {
  await s?.stop();
});

interface Reply {
  status: number;
  body: string;
}

function req(o: { method?: string; path: string; body?: Buffer; auth?: boolean; headers?: Record<string, string> }): Promise<Reply> {
  return new Promise((resolve) => {
    const r = http.request(
      {
        host: '127.0.0.1',
        port: s.port,
        method: o.method ?? 'GET',
        path: o.path,
        headers: { ...(o.auth === false ? {} : { Authorization: `Bearer ${s.token}` }), ...o.headers },
      },
      (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    // A server may cut an oversized upload after answering; the answer is what counts.
    r.on('error', (e) => resolve({ status: -1, body: String(e) }));
    r.end(o.body);
  });
}

/** What a request must not change: tags, blobs, containers, scratch files. */
function storeState(): string {
  // The (empty) cache directory may appear on the first upload; anything in it would be a kept context.
  const tmpFiles = readdirSync(join(s.root, 'tmp'), { recursive: true })
    .map(String)
    .filter((p) => !p.endsWith('/contexts'))
    .sort();
  return JSON.stringify({
    index: readFileSync(join(s.root, 'oci', 'index.json'), 'utf8'),
    blobs: readdirSync(join(s.root, 'oci', 'blobs', 'sha256')).sort(),
    containers: readdirSync(join(s.root, 'containers')).sort(),
    tmpFiles,
  });
}

test('no token: every route answers 401 and the store is unchanged', async () => {
  const before = storeState();
  const ctx = await tarOf({ Dockerfile: 'FROM busybox\nRUN echo should-not-run\n' });
  const routes: Array<[string, string]> = [
    ['HEAD', '/_ping'],
    ['GET', '/v1.45/version'],
    ['GET', '/v1.45/info'],
    ['POST', '/v1.45/build?t=evil:1'],
    ['GET', '/v1.45/images/json'],
    ['GET', '/v1.45/images/busybox/json'],
    ['POST', '/v1.45/images/busybox/tag?repo=evil&tag=1'],
    ['DELETE', '/v1.45/images/busybox'],
    ['POST', '/v1.45/images/busybox/push'],
    ['POST', '/v1.45/images/create?fromImage=busybox'],
    ['GET', '/v1.45/images/busybox/get'],
    ['POST', '/v1.45/images/load'],
    ['POST', '/v1.45/build/prune'],
    ['GET', '/v1.45/system/df'],
    ['POST', '/v1.45/containers/create'],
    ['GET', '/v1.45/containers/json'],
    ['POST', '/v1.45/containers/x/start'],
    ['POST', '/v1.45/containers/x/attach'],
    ['GET', '/v1.45/does/not/exist'],
  ];
  for (const [method, path] of routes) {
    const r = await req({ method, path, auth: false, body: method === 'POST' ? ctx : undefined });
    assert.is(r.status, 401, `${method} ${path}`);
    if (method !== 'HEAD') assert.match(JSON.parse(r.body).message, /authentication required/);
  }
  assert.is(storeState(), before);
});

test('an image name with .. is a 400 with no side effects', async () => {
  const before = storeState();
  for (const [method, path] of [
    ['POST', '/v1.45/images/../../../etc/tag?repo=x'],
    ['DELETE', '/v1.45/images/busybox/../../oci'],
    ['GET', '/v1.45/images/..%2f..%2fetc%2fpasswd/json'],
    ['POST', '/v1.45/images/busybox/tag?repo=../../escape&tag=1'],
    ['POST', '/v1.45/images/../x/push'],
    ['POST', '/v1.45/images/create?fromImage=../../x'],
  ] as const) {
    const r = await req({ method, path });
    assert.is(r.status, 400, `${method} ${path}: ${r.body}`);
    assert.match(JSON.parse(r.body).message, /invalid reference/);
  }
  assert.is(storeState(), before);
});

test('an oversized context is a 400 (or a cut upload) and leaves nothing behind', async () => {
  const before = storeState();
  const big = gzipSync(await tarOf({ Dockerfile: 'FROM busybox\n', 'big.bin': Buffer.alloc(4 * 1024 * 1024, 1) }));
  const r = await req({ method: 'POST', path: '/v1.45/build?t=big:1', body: big });
  assert.ok(r.status === 400 || r.status === -1, `status ${r.status}`);
  if (r.status === 400) assert.match(JSON.parse(r.body).message, /exceeds the server's limit of 262144 bytes/);
  await new Promise((res) => setTimeout(res, 200));
  assert.is(storeState(), before);
});

test('a malformed tar or gzip is a 400 and leaves nothing behind', async () => {
  const before = storeState();
  const good = await tarOf({ Dockerfile: 'FROM busybox\n', 'f.txt': 'x'.repeat(3000) });
  const bodies = [
    Buffer.from('definitely not a tar'.repeat(100)),
    good.subarray(0, 1500),
    Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.alloc(600, 0x41)]),
  ];
  for (const body of bodies) {
    const r = await req({ method: 'POST', path: '/v1.45/build?t=bad:1', body });
    assert.is(r.status, 400, r.body);
    assert.match(JSON.parse(r.body).message, /tar|gzip/);
  }
  const evil = await tarOf({ Dockerfile: 'FROM busybox\n', '../../escape.txt': 'x' });
  const r = await req({ method: 'POST', path: '/v1.45/build?t=bad:1', body: evil });
  assert.is(r.status, 400);
  assert.match(JSON.parse(r.body).message, /escapes the context/);
  assert.is(storeState(), before);
});

test('a huge JSON query is a clean 4xx and no build', async () => {
  const before = storeState();
  const ctx = await tarOf({ Dockerfile: 'FROM busybox\nRUN echo nope\n' });
  for (const size of [50_000, 500_000]) {
    const q = encodeURIComponent(JSON.stringify({ A: 'v'.repeat(size) }));
    const r = await req({ method: 'POST', path: `/v1.45/build?t=huge:1&buildargs=${q}`, body: ctx });
    assert.ok(r.status >= 400 && r.status < 500, `size ${size}: ${r.status}`);
  }
  const deep = encodeURIComponent('['.repeat(5000) + ']'.repeat(5000));
  const r = await req({ method: 'POST', path: `/v1.45/build?labels=${deep}`, body: ctx });
  assert.is(r.status, 400);
  const cfg = await req({
    method: 'POST',
    path: '/v1.45/containers/create',
    body: Buffer.from(JSON.stringify({ Image: 'busybox', Env: ['x'.repeat(2_000_000)] })),
    headers: { 'Content-Type': 'application/json' },
  });
  assert.is(cfg.status, 400);
  assert.match(JSON.parse(cfg.body).message, /exceeds the server's limit/);
  assert.is(storeState(), before);
});

test.run();
