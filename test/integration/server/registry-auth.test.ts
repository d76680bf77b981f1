import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServe, run, type Served } from './serve-helper.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry.js';

let s: Served;
let reg: TestRegistry;
let work: string;
let withCreds: string;
let without: string;

const docker = (config: string, args: string[], cwd?: string) =>
  run('docker', args, { cwd, env: { DOCKER_HOST: s.host, DOCKER_BUILDKIT: '0', DOCKER_CONFIG: config } });

test.before(async () => {
  s = await startServe();
  reg = await startRegistry({ auth: 'basic' });
  work = mkdtempSync(join(tmpdir(), 'kiln-regauth-'));
  withCreds = join(work, 'with');
  without = join(work, 'without');
  mkdirSync(withCreds);
  mkdirSync(without);
  const [user, pass] = Object.entries(reg.users)[0]!;
  writeFileSync(join(withCreds, 'config.json'), JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`${user}:${pass}`).toString('base64') } } }));
  writeFileSync(join(without, 'config.json'), '{}');
  writeFileSync(join(work, 'Dockerfile'), `FROM ${reg.host}/private/base:1\nRUN echo built-on-private-base\n`);
});

test.after(async () => {
  await s?.stop();
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

test("docker push sends X-Registry-Auth and the server pushes with the client's credentials only", async () => {
  assert.is((await docker(withCreds, ['tag', 'busybox', `${reg.host}/private/base:1`])).code, 0);
  const anonymous = await docker(without, ['push', `${reg.host}/private/base:1`]);
  assert.is(anonymous.code, 1, 'no credentials, no push');
  assert.match(anonymous.stderr + anonymous.stdout, /unauthori[sz]ed|authentication/i);
  const p = await docker(withCreds, ['push', `${reg.host}/private/base:1`]);
  assert.is(p.code, 0, p.stderr + p.stdout);
});

test('docker build pulls a private FROM with the X-Registry-Config it sent', async () => {
  assert.is((await docker(withCreds, ['rmi', `${reg.host}/private/base:1`])).code, 0);
  const denied = await docker(without, ['build', '.'], work);
  assert.is(denied.code, 1, 'FROM a private image without credentials fails');
  const r = await docker(withCreds, ['build', '-t', 'on-private', '.'], work);
  assert.is(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /built-on-private-base/);
});

test('docker login through the server checks the credentials with the registry', async () => {
  const [user, pass] = Object.entries(reg.users)[0]!;
  const cfg = join(work, 'login');
  mkdirSync(cfg);
  const login = (password: string) =>
    run('docker', ['login', reg.host, '-u', user, '--password-stdin'], { input: `${password}\n`, env: { DOCKER_HOST: s.host, DOCKER_CONFIG: cfg } });
  const bad = await login('wrong-password');
  assert.is(bad.code, 1);
  const ok = await login(pass);
  assert.is(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /Login Succeeded/);
});

test('credentials never reach the server log', () => {
  const [, pass] = Object.entries(reg.users)[0]!;
  assert.not.ok(s.logs().includes(pass));
  assert.not.ok(s.logs().includes(Buffer.from(`${Object.keys(reg.users)[0]}:${pass}`).toString('base64')));
});

test.run();
