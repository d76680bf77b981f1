/**
 * TLS: a registry serving HTTPS with a self-signed certificate is refused until its CA is trusted (`--tls-ca`)
 * or it is listed insecure; kiln never falls back to plain HTTP on a certificate error.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pullImage } from '../../../src/registry/pull.js';
import { pushImage } from '../../../src/registry/push.js';
import { clientOptionsFrom } from '../../../src/registry/client-options.js';
import { rejects } from '../../helpers/assert.js';
import { kiln } from '../../helpers/kiln-cli.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry.js';
import { roots } from './fixture.js';

let reg: TestRegistry;
const r = roots();
test.before(async () => {
  reg = await startRegistry({ tls: true });
});
test.after(async () => {
  await reg?.stop();
  await r.cleanup();
});

test('an untrusted certificate is refused with a hint, and no plain-HTTP request is made', async () => {
  const src = await r.make({ busybox: true });
  const reqs: string[] = [];
  const err = await rejects(
    () => pushImage(src, `${reg.host}/tls/a:1`, { source: 'busybox', onRequest: (m, u) => reqs.push(u) }),
    'REGISTRY_UNAVAILABLE',
    /TLS certificate not trusted/,
  );
  assert.match((err as any).hint, /--tls-ca/);
  assert.ok(
    reqs.every((u) => u.startsWith('https://')),
    reqs.join(' '),
  );
});

test('--tls-ca trusts the registry: push, then pull through the CLI', async () => {
  const src = await r.make({ busybox: true });
  const opts = await clientOptionsFrom({ tlsCaFiles: [reg.caFile!], paths: { kiln: '/nonexistent/k.json', docker: '/nonexistent/d.json' } });
  await pushImage(src, `${reg.host}/tls/a:1`, { ...opts, source: 'busybox' });
  const dst = await r.make();
  const res = await kiln(['pull', '-q', '--tls-ca', reg.caFile!, `${reg.host}/tls/a:1`], { root: dst.root, env: { KILN_CONFIG: '/nonexistent/k.json' } });
  assert.is(res.code, 0, res.stderr);
  const bad = await kiln(['pull', '-q', `${reg.host}/tls/a:1`], { root: dst.root, env: { KILN_CONFIG: '/nonexistent/k.json' } });
  assert.is(bad.code, 6);
  assert.match(bad.stderr, /TLS certificate not trusted/);
});

test('--insecure-registry accepts the unverified certificate', async () => {
  const dst = await r.make();
  const res = await pullImage(dst, `${reg.host}/tls/a:1`, { insecureRegistries: [reg.host] });
  assert.ok(res.fetched > 0);
});

test.run();
