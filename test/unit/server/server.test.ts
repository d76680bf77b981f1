import { test } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createKilnServer, type KilnServer } from '../../../src/server/server.js';
import { createLogger } from '../../../src/server/log.js';
import { KilnError } from '../../../src/errors.js';
import { fakeBackend } from './fake-backend.js';
import { tarOf } from '../../helpers/tar.js';
import type { CacheDefaults } from '../../../src/server/build-params.js';
import { parseCacheExport, parseCacheImport } from '../../../src/remote-cache/spec.js';
import { remoteBuild } from '../../../src/cli/remote/commands.js';
import { remoteFor } from '../../../src/cli/remote/client.js';

const TOKEN = 'k'.repeat(32);

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(
  port: number,
  o: { method?: string; path: string; headers?: Record<string, string>; body?: Buffer; abortAfterFirstChunk?: boolean },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: o.method ?? 'GET', path: o.path, headers: o.headers }, (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
        if (o.abortAfterFirstChunk) {
          req.destroy();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        }
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', () => {});
    });
    req.on('error', (e) => (o.abortAfterFirstChunk ? undefined : reject(e)));
    req.end(o.body);
  });
}

const contextTar = tarOf;

const silent = () => createLogger({ out: new Writable({ write: (_c, _e, cb) => cb() }) });

async function start(
  opts: Parameters<typeof fakeBackend>[0] & {
    token?: string;
    concurrency?: number;
    limits?: Record<string, number>;
    logOut?: Writable;
    contextCacheEntries?: number;
    cache?: CacheDefaults;
  } = {},
) {
  const fake = fakeBackend(opts);
  const server: KilnServer = createKilnServer({
    backend: fake.backend,
    listen: [{ kind: 'tcp', host: '127.0.0.1', port: 0 }],
    token: opts.token,
    concurrency: opts.concurrency ?? 2,
    limits: opts.limits,
    log: opts.logOut ? createLogger({ out: opts.logOut }) : silent(),
    contextCacheEntries: opts.contextCacheEntries,
    cache: opts.cache,
  });
  const [addr] = await server.listen();
  const port = Number(addr.split(':').pop());
  return {
    ...fake,
    server,
    port,
    stop: async () => {
      await server.close(1000);
      rmSync(fake.tmp, { recursive: true, force: true });
    },
  };
}

/** Spooled uploads and half-unpacked contexts: what must never outlive a request. */
const inFlight = (tmp: string) =>
  readdirSync(tmp, { recursive: true })
    .map(String)
    .filter((p) => /\.spool-|\.partial-/.test(p));
const lines = (body: string) =>
  body
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

test('HEAD /_ping answers with Api-Version and the legacy builder header', async () => {
  const s = await start();
  const r = await request(s.port, { method: 'HEAD', path: '/_ping' });
  assert.is(r.status, 200);
  assert.is(r.headers['api-version'], '1.45');
  assert.is(r.headers['builder-version'], '1');
  const v = await request(s.port, { path: '/v1.45/version' });
  assert.is(JSON.parse(v.body).ApiVersion, '1.45');
  await s.stop();
});

test('unknown routes get 404 with a Docker-style message', async () => {
  const s = await start();
  const r = await request(s.port, { path: '/v1.45/nodes/x' });
  assert.is(r.status, 404);
  assert.is(typeof JSON.parse(r.body).message, 'string');
  await s.stop();
});

test('POST /build streams Docker messages and passes tags, build args, labels and target to the builder', async () => {
  const s = await start();
  const body = await contextTar({ Dockerfile: 'FROM busybox\n', 'app.txt': 'x' });
  const q = new URLSearchParams({
    dockerfile: 'Dockerfile',
    buildargs: JSON.stringify({ A: '1', UNSET: null }),
    labels: JSON.stringify({ team: 'x' }),
    target: 'final',
  });
  q.append('t', 'app:1');
  q.append('t', '127.0.0.1:5000/app:latest');
  const r = await request(s.port, { method: 'POST', path: `/v1.45/build?${q}`, body, headers: { 'Content-Type': 'application/x-tar' } });
  assert.is(r.status, 200);
  const msgs = lines(r.body);
  assert.ok(msgs.some((m) => m.stream === 'Step 1/1 : RUN true\n'));
  assert.ok(msgs.some((m) => m.stream === 'step output\n'));
  assert.ok(msgs.some((m) => m.aux?.ID === `sha256:${'a'.repeat(64)}`));
  assert.ok(msgs.some((m) => m.stream === 'Successfully tagged 127.0.0.1:5000/app:latest\n'));
  const b = s.calls.builds[0];
  assert.equal(b.tags, ['app:1', '127.0.0.1:5000/app:latest']);
  assert.equal(b.buildArgs, { A: '1' });
  assert.equal(b.labels, { team: 'x' });
  assert.is(b.target, 'final');
  assert.equal(b.files, ['Dockerfile', 'app.txt']);
  assert.equal(inFlight(s.tmp), [], 'no spool or partial context left after the build');
  await s.stop();
});

test('an identical context is reused from the context cache; a different one is unpacked fresh', async () => {
  const s = await start();
  const a = await contextTar({ Dockerfile: 'FROM busybox\n', 'a.txt': 'a' });
  const b = await contextTar({ Dockerfile: 'FROM busybox\n', 'a.txt': 'b' });
  for (const body of [a, a, b]) await request(s.port, { method: 'POST', path: '/build', body });
  const [first, second, third] = s.calls.builds.map((c) => c.contextDir);
  assert.is(first, second);
  assert.is.not(first, third);
  await s.stop();
});

test('with the context cache off, every context is removed after its build', async () => {
  const s = await start({ contextCacheEntries: 0 });
  await request(s.port, { method: 'POST', path: '/build', body: await contextTar({ Dockerfile: 'FROM busybox\n' }) });
  assert.equal(readdirSync(s.tmp, { recursive: true }), ['contexts']);
  assert.is(s.calls.builds.length, 1);
  await s.stop();
});

test('POST /build with q=1 sends only the image ID', async () => {
  const s = await start();
  const r = await request(s.port, { method: 'POST', path: '/build?q=1', body: await contextTar({ Dockerfile: 'FROM busybox\n' }) });
  const streams = lines(r.body)
    .filter((m) => m.stream)
    .map((m) => m.stream);
  assert.equal(streams, [`sha256:${'a'.repeat(64)}\n`]);
  await s.stop();
});

test('a failed build ends the stream with errorDetail after the step output', async () => {
  const s = await start({ failWith: new KilnError('BUILD_STEP_FAILED', "The command '/bin/sh -c exit 3' returned a non-zero code: 3") });
  const r = await request(s.port, { method: 'POST', path: '/build', body: await contextTar({ Dockerfile: 'FROM busybox\n' }) });
  const msgs = lines(r.body);
  assert.ok(msgs.some((m) => m.stream === 'step output\n'));
  const last = msgs[msgs.length - 1];
  assert.match(last.error, /returned a non-zero code: 3/);
  assert.match(last.errorDetail.message, /non-zero code: 3/);
  await s.stop();
});

test('a Dockerfile missing from the context is a 4xx before any build', async () => {
  const s = await start();
  const r = await request(s.port, { method: 'POST', path: '/build?dockerfile=other.Dockerfile', body: await contextTar({ Dockerfile: 'FROM busybox\n' }) });
  assert.is(r.status, 404);
  assert.match(JSON.parse(r.body).message, /Cannot locate specified Dockerfile: other.Dockerfile/);
  assert.is(s.calls.builds.length, 0);
  await s.stop();
});

test('with a token, every route answers 401 without it and does nothing', async () => {
  const s = await start({ token: TOKEN });
  const ctx = await contextTar({ Dockerfile: 'FROM busybox\n' });
  const routes: Array<[string, string]> = [
    ['HEAD', '/_ping'],
    ['GET', '/_ping'],
    ['GET', '/version'],
    ['GET', '/info'],
    ['POST', '/v1.45/build?t=x'],
    ['GET', '/images/json'],
    ['POST', '/images/app/tag?repo=b'],
    ['DELETE', '/images/app'],
    ['POST', '/images/app/push'],
    ['POST', '/images/create?fromImage=busybox'],
    ['POST', '/containers/create'],
    ['GET', '/nope'],
  ];
  for (const [method, path] of routes) {
    for (const auth of [undefined, 'Bearer wrong-token-wrong-token', `Basic ${TOKEN}`]) {
      const r = await request(s.port, { method, path, body: method === 'POST' ? ctx : undefined, headers: auth ? { Authorization: auth } : {} });
      assert.is(r.status, 401, `${method} ${path} with ${auth}`);
    }
  }
  assert.is(s.calls.builds.length, 0);
  assert.is(s.calls.tags.length, 0);
  assert.is(s.calls.removed.length, 0);
  const ok = await request(s.port, { path: '/_ping', headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.is(ok.status, 200);
  await s.stop();
});

test('a non-loopback TCP listener without TLS or token is refused at start', () => {
  const { backend } = fakeBackend();
  assert.throws(() => createKilnServer({ backend, listen: [{ kind: 'tcp', host: '0.0.0.0', port: 0 }] }), /without authentication/);
});

test("the server's cache defaults reach a build naming none; a build's own cachefrom/kilncacheto replace them", async () => {
  const cache = { cacheFrom: [parseCacheImport('type=local,src=/srv/cache')], cacheTo: [parseCacheExport('type=local,dest=/srv/cache,mode=max')] };
  const s = await start({ cache });
  const ctx = await contextTar({ Dockerfile: 'FROM busybox\n' });
  assert.is((await request(s.port, { method: 'POST', path: '/build', body: ctx })).status, 200);
  const own = new URLSearchParams({ cachefrom: JSON.stringify(['127.0.0.1:5000/app:cache']), kilncacheto: JSON.stringify(['type=inline']) });
  assert.is((await request(s.port, { method: 'POST', path: `/build?${own}`, body: ctx })).status, 200);
  const [a, b] = s.calls.builds;
  // Marked as the server's own: reached with its logins, not the client's.
  assert.equal(
    a.cacheFrom,
    cache.cacheFrom.map((c) => ({ ...c, operator: true })),
  );
  assert.equal(
    a.cacheTo,
    cache.cacheTo.map((c) => ({ ...c, operator: true })),
  );
  assert.equal(b.cacheFrom, [{ type: 'registry', ref: '127.0.0.1:5000/app:cache' }]);
  assert.equal(
    b.cacheTo?.map((c) => c.type),
    ['inline'],
  );
  await s.stop();
});

test("kiln's remote build sends --cache-from as cachefrom and --cache-to as kilncacheto", async () => {
  const s = await start();
  const dir = mkdtempSync(join(tmpdir(), 'kiln-remote-cache-'));
  writeFileSync(join(dir, 'Dockerfile'), 'FROM busybox\n');
  try {
    const client = remoteFor({ host: `tcp://127.0.0.1:${s.port}` })!;
    process.env.KILN_REGISTRY_USER = 'ci';
    process.env.KILN_REGISTRY_PASSWORD = 'pw';
    await remoteBuild(client, {
      contextDir: dir,
      quiet: true,
      cacheFrom: ['127.0.0.1:5000/app:cache', 'type=registry,ref=127.0.0.1:5000/app:main'],
      cacheTo: ['type=registry,ref=127.0.0.1:5000/app:cache,mode=max,ignore-error=true'],
    });
    const [b] = s.calls.builds;
    assert.equal(b.cacheFrom, [
      { type: 'registry', ref: '127.0.0.1:5000/app:cache' },
      { type: 'registry', ref: '127.0.0.1:5000/app:main' },
    ]);
    assert.equal(
      b.cacheTo?.map((c) => [c.type, c.type === 'registry' && c.ref, c.mode, c.ignoreError]),
      [['registry', '127.0.0.1:5000/app:cache', 'max', true]],
    );
    // The client's credentials for the cache registry reach the build (X-Registry-Config).
    assert.equal((b as { registryAuth?: unknown }).registryAuth, { '127.0.0.1:5000': { username: 'ci', password: 'pw' } });
  } finally {
    delete process.env.KILN_REGISTRY_USER;
    delete process.env.KILN_REGISTRY_PASSWORD;
    rmSync(dir, { recursive: true, force: true });
    await s.stop();
  }
});

test('a build request naming a type=local cache is a 400 before anything runs', async () => {
  const s = await start();
  for (const [name, spec] of [
    ['cachefrom', 'type=local,src=/'],
    ['kilncacheto', 'type=local,dest=/tmp/x'],
  ]) {
    const q = new URLSearchParams({ [name]: JSON.stringify([spec]) });
    const r = await request(s.port, { method: 'POST', path: `/build?${q}`, body: await contextTar({ Dockerfile: 'FROM x\n' }) });
    assert.is(r.status, 400, r.body);
    assert.match(JSON.parse(r.body).message, new RegExp(`${name} .*type=local names a directory on the server`));
  }
  assert.is(s.calls.builds.length, 0);
  await s.stop();
});

test('image names with .. are refused with 400 and reach no backend call', async () => {
  const s = await start();
  for (const [method, path] of [
    ['POST', '/images/../../etc/tag?repo=x'],
    ['DELETE', '/images/a/../../b'],
    ['GET', '/images/..%2F..%2Fetc/json'],
    ['POST', '/images/app/tag?repo=../x'],
    ['POST', '/build?t=../evil'],
  ] as const) {
    const r = await request(s.port, { method, path, body: method === 'POST' ? await contextTar({ Dockerfile: 'FROM x\n' }) : undefined });
    assert.is(r.status, 400, `${method} ${path}: ${r.body}`);
    assert.match(JSON.parse(r.body).message, /invalid reference/);
  }
  assert.is(s.calls.tags.length + s.calls.removed.length + s.calls.builds.length, 0);
  await s.stop();
});

test('an oversized or malformed context is a clean 400 and leaves no temp files', async () => {
  const s = await start({ limits: { maxContextBytes: 64 * 1024 } });
  const big = await contextTar({ Dockerfile: 'FROM x\n', blob: 'x'.repeat(200_000) });
  const r1 = await request(s.port, { method: 'POST', path: '/build', body: big }).catch(() => ({ status: -1, body: '' }) as Reply);
  assert.ok(r1.status === 400 || r1.status === -1, `got ${r1.status}`);
  if (r1.status === 400) assert.match(JSON.parse(r1.body).message, /exceeds the server's limit/);
  const r2 = await request(s.port, { method: 'POST', path: '/build', body: Buffer.from('garbage'.repeat(300)) });
  assert.is(r2.status, 400);
  assert.match(JSON.parse(r2.body).message, /not a valid tar/);
  const r3 = await request(s.port, {
    method: 'POST',
    path: '/build',
    body: (await contextTar({ Dockerfile: 'FROM x\n', big: 'y'.repeat(5000) })).subarray(0, 2000),
  });
  assert.is(r3.status, 400);
  assert.equal(readdirSync(s.tmp, { recursive: true }), ['contexts'], 'nothing unpacked or kept');
  assert.is(s.calls.builds.length, 0);
  await s.stop();
});

test('a huge JSON query parameter gets a 4xx, never a build', async () => {
  const s = await start();
  const ctx = await contextTar({ Dockerfile: 'FROM x\n' });
  const medium = JSON.stringify({ A: 'v'.repeat(40_000) });
  const r1 = await request(s.port, { method: 'POST', path: `/build?buildargs=${encodeURIComponent(medium)}`, body: ctx });
  assert.is(r1.status, 400);
  const huge = JSON.stringify({ A: 'v'.repeat(200_000) });
  const r2 = await request(s.port, { method: 'POST', path: `/build?buildargs=${encodeURIComponent(huge)}`, body: ctx }).catch(
    () => ({ status: 431, body: '' }) as Reply,
  );
  assert.ok(r2.status >= 400 && r2.status < 500, `got ${r2.status}`);
  assert.is(s.calls.builds.length, 0);
  await s.stop();
});

test('queued builds are told they wait for a slot', async () => {
  const s = await start({ concurrency: 1, buildMs: 300 });
  const ctx = await contextTar({ Dockerfile: 'FROM x\n' });
  const [a, b] = await Promise.all([
    request(s.port, { method: 'POST', path: '/build', body: ctx }),
    new Promise<Reply>((r) => setTimeout(() => r(request(s.port, { method: 'POST', path: '/build', body: ctx })), 50)),
  ]);
  const waited = [a, b].filter((r) => lines(r.body).some((m) => /Waiting for a build slot/.test(m.stream ?? '')));
  assert.is(waited.length, 1);
  assert.ok([a, b].every((r) => lines(r.body).some((m) => m.aux?.ID)));
  await s.stop();
});

test('a client that disconnects cancels its build and its context is removed', async () => {
  const s = await start({ buildMs: 30_000 });
  let aborted = false;
  const orig = s.backend.build;
  s.backend.build = async (o) => {
    o.signal?.addEventListener('abort', () => (aborted = true));
    return orig(o);
  };
  const t0 = Date.now();
  await request(s.port, { method: 'POST', path: '/build', body: await contextTar({ Dockerfile: 'FROM x\n' }), abortAfterFirstChunk: true });
  for (let i = 0; i < 50 && (!aborted || inFlight(s.tmp).length); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(aborted, 'build signal aborted');
  assert.equal(inFlight(s.tmp), []);
  assert.ok(Date.now() - t0 < 10_000);
  await s.stop();
});

test('close() drains: a running build finishes, a new one is refused', async () => {
  const s = await start({ buildMs: 400 });
  const ctx = await contextTar({ Dockerfile: 'FROM x\n' });
  const running = request(s.port, { method: 'POST', path: '/build', body: ctx });
  await new Promise((r) => setTimeout(r, 150));
  s.server.state.draining = true;
  const refused = await request(s.port, { method: 'POST', path: '/build', body: ctx });
  assert.is(refused.status, 503);
  const closing = s.server.close(5000);
  const r = await running;
  assert.ok(
    lines(r.body).some((m) => m.aux?.ID),
    'running build completed',
  );
  await closing;
  rmSync(s.tmp, { recursive: true, force: true });
});

test('an idle connection is closed; a quiet streaming build is not', async () => {
  const s = await start({ buildMs: 700, limits: { idleTimeoutMs: 200 } });
  const { connect } = await import('node:net');
  const sock = connect(s.port, '127.0.0.1');
  const closedAfter = await new Promise<number>((resolve) => {
    const t0 = Date.now();
    sock.on('close', () => resolve(Date.now() - t0));
    sock.on('error', () => {});
  });
  assert.ok(closedAfter < 3000, `idle socket closed after ${closedAfter} ms`);
  const r = await request(s.port, { method: 'POST', path: '/build', body: await contextTar({ Dockerfile: 'FROM x\n' }) });
  assert.ok(
    lines(r.body).some((m) => m.aux?.ID),
    'a build quieter than the idle timeout still completes',
  );
  await s.stop();
});

test('request logs are JSON lines without query strings or credentials', async () => {
  const out: string[] = [];
  const s = await start({
    logOut: new Writable({
      write: (c, _e, cb) => {
        out.push(String(c));
        cb();
      },
    }),
  });
  const auth = Buffer.from(JSON.stringify({ username: 'u', password: 'hunter2-secret' })).toString('base64');
  await request(s.port, {
    method: 'POST',
    path: `/build?buildargs=${encodeURIComponent(JSON.stringify({ TOKEN: 's3cr3t-arg' }))}`,
    body: await contextTar({ Dockerfile: 'FROM x\n' }),
    headers: { 'X-Registry-Config': auth },
  });
  await s.stop();
  const text = out.join('');
  assert.not.match(text, /hunter2|s3cr3t|buildargs/);
  const entries = text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.ok(entries.some((e) => e.msg === 'request' && e.path === '/build' && e.status === 200 && typeof e.durationMs === 'number'));
  assert.ok(entries.some((e) => e.msg === 'build' && e.outcome === 'ok'));
});

test.run();
