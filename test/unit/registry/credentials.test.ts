import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  configPaths,
  configuredInsecureRegistries,
  credentialLookup,
  normalizeAuthKey,
  removeCredentials,
  saveCredentials,
} from '../../../src/registry/credentials.js';
import { rejects } from '../../helpers/assert.js';

let dir = '';
test.before.each(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-creds-'));
});
test.after.each(async () => {
  await rm(dir, { recursive: true, force: true });
});
const paths = () => ({ kiln: join(dir, 'kiln', 'config.json'), docker: join(dir, 'docker', 'config.json') });

test('configPaths() honours KILN_CONFIG, XDG_CONFIG_HOME and DOCKER_CONFIG', () => {
  assert.equal(configPaths({ HOME: '/h' }), { kiln: '/h/.config/kiln/config.json', docker: '/h/.docker/config.json' });
  assert.equal(configPaths({ HOME: '/h', KILN_CONFIG: '/k.json', DOCKER_CONFIG: '/d' }), { kiln: '/k.json', docker: '/d/config.json' });
  assert.is(configPaths({ HOME: '/h', XDG_CONFIG_HOME: '/x' }).kiln, '/x/kiln/config.json');
});

test('normalizeAuthKey() maps Docker Hub spellings and URL forms to registry names', () => {
  assert.is(normalizeAuthKey('https://index.docker.io/v1/'), 'docker.io');
  assert.is(normalizeAuthKey('registry-1.docker.io'), 'docker.io');
  assert.is(normalizeAuthKey('https://Reg.Example:5000/v2/'), 'reg.example:5000');
  assert.is(normalizeAuthKey('127.0.0.1:5000'), '127.0.0.1:5000');
});

test('saveCredentials() writes mode 0600 and keeps other settings; lookup finds them; remove deletes them', async () => {
  const p = paths();
  await mkdir(join(dir, 'kiln'));
  await writeFile(p.kiln, JSON.stringify({ insecureRegistries: ['reg.example:5000'] }));
  await saveCredentials('127.0.0.1:5000', { username: 'alice', password: 's3cret:with:colons' }, p);
  assert.is((await stat(p.kiln)).mode & 0o777, 0o600);
  assert.equal(await configuredInsecureRegistries(p), ['reg.example:5000']);
  assert.equal(await credentialLookup(p)('127.0.0.1:5000'), { username: 'alice', password: 's3cret:with:colons' });
  assert.is(await credentialLookup(p)('127.0.0.1:5001'), undefined);
  assert.ok(await removeCredentials('127.0.0.1:5000', p));
  assert.not.ok(await removeCredentials('127.0.0.1:5000', p));
  assert.is(await credentialLookup(p)('127.0.0.1:5000'), undefined);
  assert.equal(JSON.parse(await readFile(p.kiln, 'utf8')).insecureRegistries, ['reg.example:5000']);
});

test("Docker config.json auths work (base64 auth, username/password, Hub key); kiln's file wins", async () => {
  const p = paths();
  await mkdir(join(dir, 'docker'));
  await writeFile(
    p.docker,
    JSON.stringify({
      auths: {
        'https://index.docker.io/v1/': { auth: Buffer.from('hubuser:hubpass').toString('base64') },
        'https://reg.example:5000': { username: 'bob', password: 'pw' },
        'other.example': { auth: Buffer.from('docker:d').toString('base64') },
      },
    }),
  );
  const look = credentialLookup(p);
  assert.equal(await look('docker.io'), { username: 'hubuser', password: 'hubpass' });
  assert.equal(await look('reg.example:5000'), { username: 'bob', password: 'pw' });
  await saveCredentials('other.example', { username: 'kiln', password: 'k' }, p);
  assert.equal(await look('other.example'), { username: 'kiln', password: 'k' });
});

test('Docker credential helpers are asked (credHelpers per registry, then credsStore)', async () => {
  const p = paths();
  const bin = join(dir, 'bin');
  await mkdir(bin);
  // A helper that answers only for reg.example:5000 and echoes which server it was asked about.
  await writeFile(
    join(bin, 'docker-credential-fake'),
    '#!/bin/sh\nread s\n[ "$s" = reg.example:5000 ] || exit 1\necho "{\\"Username\\":\\"helper\\",\\"Secret\\":\\"from-$s\\"}"\n',
    { mode: 0o755 },
  );
  await mkdir(join(dir, 'docker'));
  await writeFile(p.docker, JSON.stringify({ credHelpers: { 'reg.example:5000': 'fake' }, credsStore: 'absent-helper' }));
  const oldPath = process.env.PATH;
  process.env.PATH = `${bin}:${oldPath}`;
  try {
    const look = credentialLookup(p);
    assert.equal(await look('reg.example:5000'), { username: 'helper', password: 'from-reg.example:5000' });
    assert.is(await look('other.example'), undefined, 'a missing credsStore helper means no credentials');
  } finally {
    process.env.PATH = oldPath;
  }
});

test("identity tokens: Docker's identitytoken, and a helper's secret for the user <token>", async () => {
  const p = paths();
  const bin = join(dir, 'bin-idt');
  await mkdir(bin);
  await writeFile(join(bin, 'docker-credential-idt'), '#!/bin/sh\nread s\necho "{\\"Username\\":\\"<token>\\",\\"Secret\\":\\"refresh-from-helper\\"}"\n', {
    mode: 0o755,
  });
  await mkdir(join(dir, 'docker'), { recursive: true });
  await writeFile(
    p.docker,
    JSON.stringify({
      auths: {
        'oauth.example': { auth: Buffer.from('alice:').toString('base64'), identitytoken: 'refresh-1' },
        'bare.example': { identitytoken: 'refresh-2' },
      },
      credHelpers: { 'helper.example': 'idt' },
    }),
  );
  const oldPath = process.env.PATH;
  process.env.PATH = `${bin}:${oldPath}`;
  try {
    const look = credentialLookup(p);
    assert.equal(await look('oauth.example'), { username: 'alice', password: '', identityToken: 'refresh-1' });
    assert.equal(await look('bare.example'), { username: '<token>', password: '', identityToken: 'refresh-2' });
    assert.equal(await look('helper.example'), { username: '<token>', password: '', identityToken: 'refresh-from-helper' });
  } finally {
    process.env.PATH = oldPath;
  }
});

test('a config file that is not JSON is a clear error naming the file', async () => {
  const p = paths();
  await mkdir(join(dir, 'kiln'));
  await writeFile(p.kiln, '{ not json');
  await rejects(() => credentialLookup(p)('x'), 'INVALID_ARGUMENT', /config\.json is not valid JSON/);
});

test.run();
