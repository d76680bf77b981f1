import { test } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import { Writable } from 'node:stream';
import { createKilnServer, type KilnServer } from '../../../../src/server/server.js';
import { createLogger } from '../../../../src/server/log.js';
import { fakeBackend } from '../fake-backend.js';
import { sessionValue } from '../../../../src/server/ui/ui-auth.js';

const TOKEN = 't'.repeat(24);

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(port: number, o: { method?: string; path: string; headers?: Record<string, string>; body?: string }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: o.method ?? 'GET', path: o.path, headers: o.headers }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

async function start(token?: string): Promise<{ port: number; server: KilnServer; stop(): Promise<void> }> {
  const fake = fakeBackend();
  const server = createKilnServer({
    backend: fake.backend,
    listen: [{ kind: 'tcp', host: '127.0.0.1', port: 0 }],
    token,
    log: createLogger({ out: new Writable({ write: (_c, _e, cb) => cb() }) }),
  });
  const [addr] = await server.listen();
  return { port: Number(addr.split(':').pop()), server, stop: () => server.close(1000) };
}

test('GET /ui/ serves the page with a strict CSP, an ETag, and 304 on revalidation', async () => {
  const s = await start();
  try {
    const r = await request(s.port, { path: '/ui/' });
    assert.is(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/html/);
    assert.match(String(r.headers['content-security-policy']), /default-src 'self'/);
    assert.not.match(String(r.headers['content-security-policy']), /unsafe-inline/);
    assert.is(r.headers['x-content-type-options'], 'nosniff');
    assert.match(r.body, /<script type="module" src="\/ui\/app.js">/);
    const again = await request(s.port, { path: '/ui/', headers: { 'If-None-Match': String(r.headers.etag) } });
    assert.is(again.status, 304);
    const js = await request(s.port, { path: '/ui/timeline.js' });
    assert.is(js.status, 200);
    assert.match(String(js.headers['content-type']), /^text\/javascript/);
    const css = await request(s.port, { path: '/ui/style.css' });
    assert.match(String(css.headers['content-type']), /^text\/css/);
    // Every script the page loads is one of ours (no CDN): imports are relative or /ui/ paths.
    assert.not.match(js.body, /https?:\/\//);
  } finally {
    await s.stop();
  }
});

test('/ui redirects to /ui/; unknown and traversing names are 404', async () => {
  const s = await start();
  try {
    const r = await request(s.port, { path: '/ui' });
    assert.is(r.status, 303);
    assert.is(r.headers.location, '/ui/');
    for (const p of ['/ui/nope.js', '/ui/..%2Fserve-ui.ts', '/ui/%2e%2e%2fpackage.json', '/ui/.hidden.js']) {
      const x = await request(s.port, { path: p });
      assert.is(x.status, 404, p);
    }
  } finally {
    await s.stop();
  }
});

test('with a token: the page answers 401 with a login form; API paths 401 in JSON', async () => {
  const s = await start(TOKEN);
  try {
    const page = await request(s.port, { path: '/ui/' });
    assert.is(page.status, 401);
    assert.match(page.body, /<form method="post" action="\/ui\/login">/);
    const asset = await request(s.port, { path: '/ui/app.js' });
    assert.is(asset.status, 401);
    const api = await request(s.port, { path: '/kiln/v1/history' });
    assert.is(api.status, 401);
    assert.match(api.body, /authentication required/);
    const wrong = await request(s.port, { path: '/ui/?token=nope' });
    assert.is(wrong.status, 401);
    assert.not.ok(wrong.headers['set-cookie']);
  } finally {
    await s.stop();
  }
});

test('?token= and the login form exchange the token for an HttpOnly SameSite=Strict cookie that opens the page', async () => {
  const s = await start(TOKEN);
  try {
    const r = await request(s.port, { path: `/ui/?token=${TOKEN}&x=1` });
    assert.is(r.status, 303);
    assert.is(r.headers.location, '/ui/?x=1');
    const cookie = String(r.headers['set-cookie']);
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    assert.not.ok(cookie.includes(TOKEN), 'the cookie is not the token');
    const pair = cookie.split(';')[0];
    const page = await request(s.port, { path: '/ui/', headers: { Cookie: pair } });
    assert.is(page.status, 200);
    const form = await request(s.port, {
      method: 'POST',
      path: '/ui/login',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `token=${TOKEN}`,
    });
    assert.is(form.status, 303);
    assert.is(String(form.headers['set-cookie']).split(';')[0], `kiln_ui=${sessionValue(TOKEN)}`);
    const bad = await request(s.port, { method: 'POST', path: '/ui/login', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'token=x' });
    assert.is(bad.status, 401);
    assert.match(bad.body, /not valid/);
  } finally {
    await s.stop();
  }
});

test('the session cookie never opens the Docker API; a bearer token still does', async () => {
  const s = await start(TOKEN);
  try {
    const cookie = `kiln_ui=${sessionValue(TOKEN)}`;
    const docker = await request(s.port, { path: '/images/json', headers: { Cookie: cookie } });
    assert.is(docker.status, 401);
    const forged = await request(s.port, { path: '/ui/', headers: { Cookie: `kiln_ui=${sessionValue('other-token-xxxxxxxx')}` } });
    assert.is(forged.status, 401);
    const bearer = await request(s.port, { path: '/ui/', headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.is(bearer.status, 200);
    const badBearer = await request(s.port, { path: '/ui/', headers: { Authorization: 'Bearer nope', Cookie: cookie } });
    assert.is(badBearer.status, 401);
  } finally {
    await s.stop();
  }
});

test.run();
