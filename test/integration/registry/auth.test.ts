/**
 * Registry auth against a real docker-registry: htpasswd Basic (through the CLI: login, push, pull, logout, and
 * Docker's config.json), and Bearer tokens from a token server of the test's own (token / access_token, refresh
 * on expiry, a wider scope after a 401, cross-repository mounts, anonymous pull). Passwords never appear in
 * output, errors or progress.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createRegistryClient } from '../../../src/registry/client.js';
import { pullImage } from '../../../src/registry/pull.js';
import { pushImage } from '../../../src/registry/push.js';
import type { TransferEvent } from '../../../src/registry/types.js';
import { rejects } from '../../helpers/assert.js';
import { kiln } from '../../helpers/kiln-cli.js';
import { skopeo, startRegistry, type TestRegistry } from '../../helpers/registry.js';
import { startFaultProxy } from './fault-proxy.js';
import { roots } from './fixture.js';

const PASSWORD = 'Sup3r-secret-pw';
const r = roots();
const stops: Array<() => Promise<void>> = [];
test.after(async () => {
  for (const s of stops.reverse()) await s();
  await r.cleanup();
});
const start = async (opts: Parameters<typeof startRegistry>[0]): Promise<TestRegistry> => {
  const reg = await startRegistry(opts);
  stops.push(reg.stop);
  return reg;
};
const noSecret = (text: string) => {
  assert.not.match(text, PASSWORD);
  assert.not.match(text, Buffer.from(`kiln:${PASSWORD}`).toString('base64'));
};

test('Basic auth through the CLI: refused without login, login stores 0600 credentials, push and pull work, logout forgets', async () => {
  const reg = await start({ auth: 'basic', users: { kiln: PASSWORD } });
  const root = (await r.make({ busybox: true })).root;
  const cfg = await r.dir();
  const env = { KILN_CONFIG: join(cfg, 'kiln.json'), DOCKER_CONFIG: join(cfg, 'docker') };
  const ref = `${reg.host}/team/busybox:1`;
  assert.is((await kiln(['tag', 'busybox', ref], { root, env })).code, 0);

  const denied = await kiln(['push', ref], { root, env });
  assert.is(denied.code, 7);
  assert.match(denied.stderr, new RegExp(`error: ${reg.host}/team/busybox: .*authentication required`));
  assert.match(denied.stderr, new RegExp(`hint: log in with: kiln login ${reg.host}`));

  const wrong = await kiln(['login', '-u', 'kiln', '--password-stdin', reg.host], { root, env, input: 'not-the-password\n' });
  assert.is(wrong.code, 7);
  assert.match(wrong.stderr, /login failed: the registry refused the credentials of "kiln"/);
  assert.not.match(wrong.stderr, /not-the-password/);
  assert.not.ok(await stat(env.KILN_CONFIG).catch(() => undefined), 'nothing stored after a failed login');

  const ok = await kiln(['login', '-u', 'kiln', '--password-stdin', reg.host], { root, env, input: `${PASSWORD}\n` });
  assert.is(ok.code, 0, ok.stderr);
  assert.is(ok.stdout, 'Login Succeeded\n');
  assert.is((await stat(env.KILN_CONFIG)).mode & 0o777, 0o600);

  const pushed = await kiln(['push', ref], { root, env });
  assert.is(pushed.code, 0, pushed.stderr);
  assert.match(pushed.stdout, new RegExp(`^The push refers to repository \\[${reg.host}/team/busybox\\]\\n`));
  assert.match(pushed.stdout, /[0-9a-f]{12}: Pushed\n/);
  assert.match(pushed.stdout, /\n1: digest: sha256:[0-9a-f]{64} size: \d+\n$/);
  noSecret(pushed.stdout + pushed.stderr);

  const other = (await r.make()).root;
  const pulled = await kiln(['pull', ref], { root: other, env });
  assert.is(pulled.code, 0, pulled.stderr);
  assert.match(pulled.stdout, /^1: Pulling from team\/busybox\n/);
  assert.match(pulled.stdout, /[0-9a-f]{12}: Pull complete\n/);
  assert.match(pulled.stdout, /Status: Downloaded newer image for /);
  noSecret(pulled.stdout + pulled.stderr);
  const inspected = JSON.parse(await skopeo(['inspect', '--tls-verify=false', `--creds=kiln:${PASSWORD}`, `docker://${ref}`]));
  assert.match(pulled.stdout, new RegExp(`Digest: ${inspected.Digest}`));

  const out = await kiln(['logout', reg.host], { root, env });
  assert.is(out.stdout, `Removing login credentials for ${reg.host}\n`);
  const again = await kiln(['pull', ref], { root: other, env });
  assert.is(again.code, 7);
});

test("credentials from Docker's ~/.docker/config.json are used", async () => {
  const reg = await start({ auth: 'basic', users: { kiln: PASSWORD } });
  const src = await r.make({ busybox: true });
  const cfg = await r.dir();
  await mkdir(join(cfg, 'docker'));
  await writeFile(
    join(cfg, 'docker', 'config.json'),
    JSON.stringify({ auths: { [`http://${reg.host}`]: { auth: Buffer.from(`kiln:${PASSWORD}`).toString('base64') } } }),
  );
  const env = { KILN_CONFIG: join(cfg, 'kiln.json'), DOCKER_CONFIG: join(cfg, 'docker') };
  await pushImage(src, `${reg.host}/d/busybox:1`, { source: 'busybox', credentials: async () => ({ username: 'kiln', password: PASSWORD }) });
  const res = await kiln(['pull', '-q', `${reg.host}/d/busybox:1`], { root: (await r.make()).root, env });
  assert.is(res.code, 0, res.stderr);
  assert.is(res.stdout, `${reg.host}/d/busybox:1\n`);
});

test('Bearer tokens: push and pull with scoped tokens; mounts ask for the source repository too', async () => {
  const reg = await start({ auth: 'token', users: { kiln: PASSWORD } });
  const ts = reg.tokenServer!;
  const src = await r.make({ busybox: true });
  const credentials = async () => ({ username: 'kiln', password: PASSWORD });
  const events: TransferEvent[] = [];
  await pushImage(src, `${reg.host}/tok/a:1`, { source: 'busybox', credentials, onProgress: (e) => events.push(e) });
  assert.ok(ts.requests.some((q) => q.authenticated && q.scopes.includes('repository:tok/a:pull,push') && q.service === 'kiln-test-registry'));
  const res = await pushImage(src, `${reg.host}/tok/b:1`, { source: 'busybox', credentials });
  assert.is(res.mounted, 2);
  assert.ok(
    ts.requests.some((q) => q.scopes.includes('repository:tok/a:pull') && q.scopes.includes('repository:tok/b:pull,push')),
    'a token covering both repositories',
  );
  const dst = await r.make();
  const pulled = await pullImage(dst, `${reg.host}/tok/b:1`, { credentials, onProgress: (e) => events.push(e) });
  assert.is(pulled.fetched, 2);
  noSecret(JSON.stringify(events));
});

test('Bearer tokens: access_token is accepted and an expired token is refreshed', async () => {
  const reg = await start({ auth: 'token', users: { kiln: PASSWORD }, token: { field: 'access_token', expiresIn: 1 } });
  const ts = reg.tokenServer!;
  const src = await r.make({ busybox: true });
  const client = createRegistryClient({ credentials: async () => ({ username: 'kiln', password: PASSWORD }) });
  try {
    await pushImage(src, `${reg.host}/exp/a:1`, { source: 'busybox', client });
    const before = ts.requests.length;
    await new Promise((ok) => setTimeout(ok, 1200));
    await pushImage(src, `${reg.host}/exp/a:1`, { source: 'busybox', client });
    assert.ok(ts.requests.length > before, 'a new token after expiry');
  } finally {
    client.close();
  }
});

test("identity tokens: Docker's identitytoken is exchanged with an OAuth2 refresh grant, rotated tokens are kept, a refused one says so", async () => {
  const reg = await start({
    auth: 'token',
    users: { kiln: PASSWORD },
    token: { refreshTokens: { 'refresh-cli': 'kiln', 'refresh-lib': 'kiln' }, rotate: true, expiresIn: 1 },
  });
  const ts = reg.tokenServer!;
  const src = await r.make({ busybox: true });
  await pushImage(src, `${reg.host}/idt/busybox:1`, { source: 'busybox', credentials: async () => ({ username: 'kiln', password: PASSWORD }) });
  // As `docker login` leaves it for an OAuth registry: the user in `auth`, the refresh token in `identitytoken`.
  const cfg = await r.dir();
  await mkdir(join(cfg, 'docker'));
  const writeDockerConfig = (token: string) =>
    writeFile(
      join(cfg, 'docker', 'config.json'),
      JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from('kiln:').toString('base64'), identitytoken: token } } }),
    );
  await writeDockerConfig('refresh-cli');
  const env = { KILN_CONFIG: join(cfg, 'kiln.json'), DOCKER_CONFIG: join(cfg, 'docker') };
  const res = await kiln(['pull', '-q', `${reg.host}/idt/busybox:1`], { root: (await r.make()).root, env });
  assert.is(res.code, 0, res.stderr);
  const grants = ts.requests.filter((q) => q.grant === 'refresh_token');
  assert.ok(grants.length > 0 && grants.every((q) => q.authenticated && q.account === 'kiln'), 'exchanged as a refresh token, not sent as a password');
  assert.ok(grants.some((q) => q.scopes.includes('repository:idt/busybox:pull')));

  // A rotating server retires each refresh token it exchanges: a client must use the one it was given.
  const client = createRegistryClient({ credentials: async () => ({ username: '<token>', password: '', identityToken: 'refresh-lib' }) });
  try {
    await pullImage(await r.make(), `${reg.host}/idt/busybox:1`, { client });
    await new Promise((ok) => setTimeout(ok, 1200)); // the access token (1 s) expires
    await pullImage(await r.make(), `${reg.host}/idt/busybox:1`, { client });
  } finally {
    client.close();
  }

  await writeDockerConfig('refresh-revoked');
  const refused = await kiln(['pull', '-q', `${reg.host}/idt/busybox:1`], { root: (await r.make()).root, env });
  assert.is.not(refused.code, 0);
  assert.match(refused.stderr, /refused the credentials/);
  assert.match(refused.stderr, /identity token was refused/);
  assert.not.match(refused.stderr, /refresh-revoked/);
});

test('Bearer tokens: a 401 naming a wider scope gets a new token with it and the request succeeds', async () => {
  const reg = await start({ auth: 'token', users: { kiln: PASSWORD } });
  const ts = reg.tokenServer!;
  const src = await r.make({ busybox: true });
  const credentials = async () => ({ username: 'kiln', password: PASSWORD });
  const proxy = await startFaultProxy(reg.host);
  stops.push(proxy.stop);
  await pushImage(src, `${proxy.host}/wide/a:1`, { source: 'busybox', credentials });
  proxy.fault(
    { method: 'GET', path: /\/manifests\/1$/ },
    {
      kind: 'status',
      status: 401,
      headers: {
        'www-authenticate': `Bearer realm="${ts.realm}",service="kiln-test-registry",scope="repository:wide/a:pull repository:wide/extra:pull",error="insufficient_scope"`,
      },
    },
  );
  const dst = await r.make();
  await pullImage(dst, `${proxy.host}/wide/a:1`, { credentials });
  assert.ok(
    ts.requests.some((q) => q.scopes.includes('repository:wide/extra:pull')),
    'the token request carried the scope the registry asked for',
  );
  assert.is(proxy.log.filter((x) => x.method === 'GET' && x.path.endsWith('/manifests/1')).length, 2, 'one refused, one retried');
});

test('Bearer tokens: anonymous pull works when the server allows it; anonymous push is refused clearly', async () => {
  const reg = await start({ auth: 'token', users: { kiln: PASSWORD }, token: { anonymousPull: true } });
  const src = await r.make({ busybox: true });
  await pushImage(src, `${reg.host}/anon/a:1`, { source: 'busybox', credentials: async () => ({ username: 'kiln', password: PASSWORD }) });
  const dst = await r.make();
  const anonymous = async () => undefined;
  await pullImage(dst, `${reg.host}/anon/a:1`, { credentials: anonymous });
  assert.ok(await dst.images.find(`${reg.host}/anon/a:1`));
  await rejects(() => pushImage(dst, `${reg.host}/anon/b:1`, { source: `${reg.host}/anon/a:1`, credentials: anonymous }), 'REGISTRY_UNAUTHORIZED', /anon\/b/);
});

test('kiln login against a token registry checks the password at the token server', async () => {
  const reg = await start({ auth: 'token', users: { kiln: PASSWORD } });
  const cfg = await r.dir();
  const env = { KILN_CONFIG: join(cfg, 'kiln.json'), DOCKER_CONFIG: join(cfg, 'docker') };
  const bad = await kiln(['login', '-u', 'kiln', '--password-stdin', reg.host], { env, input: 'nope\n' });
  assert.is(bad.code, 7);
  assert.match(bad.stderr, /refused the credentials/);
  const good = await kiln(['login', '-u', 'kiln', '--password-stdin', reg.host], { env, input: PASSWORD });
  assert.is(good.code, 0, good.stderr);
  const stored = JSON.parse(await readFile(env.KILN_CONFIG, 'utf8'));
  assert.ok(stored.auths[reg.host].auth);
});

test.run();
