import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer } from 'node:http';
import { createAuthorizer, parseChallenges } from '../../../src/registry/auth.js';
import { createTransport } from '../../../src/registry/http.js';
import { rejects } from '../../helpers/assert.js';

test('parseChallenges() reads a Bearer challenge with quoted realm, service and scope', () => {
  const [c] = parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"');
  assert.is(c!.scheme, 'bearer');
  assert.equal(c!.params, { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' });
});

test('parseChallenges() splits several challenges and unquoted values', () => {
  const cs = parseChallenges('Basic realm="reg", Bearer realm="http://a/t",service=svc,error="insufficient_scope"');
  assert.equal(
    cs.map((c) => c.scheme),
    ['basic', 'bearer'],
  );
  assert.is(cs[1]!.params.service, 'svc');
  assert.is(cs[1]!.params.error, 'insufficient_scope');
  assert.equal(parseChallenges(undefined), []);
});

/** A token server on loopback that counts requests and answers with the configured body. */
async function tokenServer(body: (n: number) => object, status = 200) {
  const seen: Array<{ url: string; authorization?: string }> = [];
  const srv = createServer((req, res) => {
    seen.push({ url: req.url!, authorization: req.headers.authorization });
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body(seen.length)));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  return { seen, realm: `http://127.0.0.1:${port}/token`, close: () => new Promise<void>((r) => srv.close(() => r())) };
}

test('a Bearer token is fetched once per scope set, from token or access_token, with Basic credentials', async () => {
  const ts = await tokenServer((n) => (n === 1 ? { token: 'T1', expires_in: 300 } : { access_token: 'T2', expires_in: 300 }));
  const transport = createTransport();
  try {
    const a = createAuthorizer({ registry: 'r.example', transport, credentials: async () => ({ username: 'u', password: 'p' }) });
    a.setChallenge(`Bearer realm="${ts.realm}",service="svc"`);
    const [h1, h2] = await Promise.all([a.header(['repository:x:pull']), a.header(['repository:x:pull'])]);
    assert.is(h1, 'Bearer T1');
    assert.is(h2, 'Bearer T1');
    assert.is(ts.seen.length, 1, 'concurrent requests share one token round trip');
    assert.is(await a.header(['repository:y:pull,push']), 'Bearer T2');
    const url = new URL(ts.seen[1]!.url, 'http://x');
    assert.is(url.searchParams.get('service'), 'svc');
    assert.equal(url.searchParams.getAll('scope'), ['repository:y:pull,push']);
    assert.is(ts.seen[0]!.authorization, `Basic ${Buffer.from('u:p').toString('base64')}`);
  } finally {
    transport.close();
    await ts.close();
  }
});

test('an expired token is refreshed before the next request', async () => {
  const ts = await tokenServer((n) => ({ token: `T${n}`, expires_in: 1 }));
  const transport = createTransport();
  try {
    const a = createAuthorizer({ registry: 'r.example', transport });
    a.setChallenge(`Bearer realm="${ts.realm}"`);
    assert.is(await a.header(['s']), 'Bearer T1');
    await new Promise((r) => setTimeout(r, 1100));
    assert.is(await a.header(['s']), 'Bearer T2');
  } finally {
    transport.close();
    await ts.close();
  }
});

test('a 401 asking for a wider scope widens the scopes for the retry', async () => {
  const ts = await tokenServer(() => ({ token: 'T' }));
  const transport = createTransport();
  try {
    const a = createAuthorizer({ registry: 'r.example', transport });
    a.setChallenge(`Bearer realm="${ts.realm}"`);
    await a.header(['repository:a:pull']);
    const next = a.onUnauthorized(`Bearer realm="${ts.realm}",scope="repository:b:pull",error="insufficient_scope"`, ['repository:a:pull']);
    assert.equal(next, ['repository:a:pull', 'repository:b:pull']);
  } finally {
    transport.close();
    await ts.close();
  }
});

test('a refused token request is REGISTRY_UNAUTHORIZED and does not echo the password', async () => {
  const ts = await tokenServer(() => ({ details: 'nope' }), 401);
  const transport = createTransport();
  try {
    const a = createAuthorizer({ registry: 'r.example', transport, credentials: async () => ({ username: 'u', password: 'hunter2-secret' }) });
    a.setChallenge(`Bearer realm="${ts.realm}"`);
    const err = await rejects(() => a.header(['repository:x:pull']), 'REGISTRY_UNAUTHORIZED', /refused the credentials/);
    assert.not.match(`${err.message} ${(err as any).hint}`, /hunter2/);
  } finally {
    transport.close();
    await ts.close();
  }
});

test('Basic challenges send credentials; none without credentials', async () => {
  const transport = createTransport();
  const a = createAuthorizer({ registry: 'r', transport, credentials: async () => ({ username: 'u', password: 'p' }) });
  a.setChallenge('Basic realm="x"');
  assert.is(await a.header([]), `Basic ${Buffer.from('u:p').toString('base64')}`);
  const anon = createAuthorizer({ registry: 'r', transport });
  anon.setChallenge('Basic realm="x"');
  assert.is(await anon.header([]), undefined);
  transport.close();
});

test('an identity token is never sent as a Basic password', async () => {
  const a = createAuthorizer({
    registry: 'r.example',
    transport: createTransport(),
    credentials: async () => ({ username: '<token>', password: '', identityToken: 'refresh-x' }),
  });
  a.setChallenge('Basic realm="reg"');
  const err = await rejects(() => a.header([]), 'REGISTRY_UNAUTHORIZED', /identity token/);
  assert.not.match(err.message, /refresh-x/);
});

test.run();
