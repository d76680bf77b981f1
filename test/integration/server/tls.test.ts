import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServe, run, type Served } from './serve-helper.js';
import { kiln } from '../../helpers/kiln-cli.js';
import { freePort } from '../../helpers/registry.js';

let dir: string;
let s: Served;

async function openssl(args: string[]): Promise<void> {
  const r = await run('openssl', args, { cwd: dir });
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, in Docker's DOCKER_CERT_PATH layout. */
async function makeCerts(): Promise<void> {
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=kiln test CA']);
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const who of ['server', 'client']) {
    await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${who}-key.pem`, '-out', `${who}.csr`, '-subj', `/CN=${who}`]);
    await openssl([
      'x509',
      '-req',
      '-in',
      `${who}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca-key.pem',
      '-CAcreateserial',
      '-out',
      `${who}-cert.pem`,
      '-days',
      '1',
      '-extfile',
      `${who}.ext`,
    ]);
  }
  // The client's DOCKER_CERT_PATH.
  copyFileSync(join(dir, 'client-cert.pem'), join(dir, 'cert.pem'));
  copyFileSync(join(dir, 'client-key.pem'), join(dir, 'key.pem'));
}

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-tls-'));
  await makeCerts();
  s = await startServe({ args: ['--tlscacert', join(dir, 'ca.pem'), '--tlscert', join(dir, 'server-cert.pem'), '--tlskey', join(dir, 'server-key.pem')] });
});

test.after(async () => {
  await s?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('the docker CLI with a client certificate talks to kiln serve over TLS', async () => {
  const r = await run('docker', ['images', '--format', '{{.Repository}}'], {
    env: { DOCKER_HOST: s.host, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir, DOCKER_CONFIG: s.dockerConfig },
  });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /busybox/);
});

test('kiln --host with KILN_CERT_PATH talks TLS too', async () => {
  const r = await kiln(['images', '-q'], { env: { KILN_HOST: s.host, KILN_CERT_PATH: dir } });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^[a-f0-9]{12}$/m);
});

test('a client without a certificate is refused in the handshake', async () => {
  const r = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', join(dir, 'ca.pem'), `https://127.0.0.1:${s.port}/_ping`]);
  assert.ok(r.code !== 0, 'curl without a client certificate must fail');
  assert.is.not(r.stdout, '200');
  const plain = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${s.port}/_ping`]);
  assert.is.not(plain.stdout, '200');
});

test('kiln serve refuses a non-loopback TCP address without TLS or a token', async () => {
  const port = await freePort();
  const r = await kiln(['serve', '--listen', `tcp://0.0.0.0:${port}`], { root: s.root, timeoutMs: 30_000 });
  assert.is(r.code, 5, r.stderr);
  assert.match(r.stderr, /refusing to listen on tcp:\/\/0\.0\.0\.0 without authentication/);
});

test.run();
