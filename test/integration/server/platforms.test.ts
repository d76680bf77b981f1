/**
 * A multi-platform build through `kiln serve` (the build's `platform` parameter with a comma list, as
 * `kiln --host build --platform …` sends it): the server's store gets the index, and /images/json lists it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canRunPlatform, registerEmulators, unregisterEmulator } from '../../../src/sandbox/binfmt.js';
import { kiln } from '../../helpers/kiln-cli.js';
import { skopeo } from '../../helpers/registry.js';
import { startServe, docker, type Served } from './serve-helper.js';

let s: Served;
let root: string;
let ctx: string;
let clientRoot: string;
const registered: string[] = [];

test.before(async () => {
  for (const r of await registerEmulators(['linux/arm64'])) if (r.action === 'registered') registered.push(r.name!);
  assert.ok((await canRunPlatform('linux/arm64')).ok);
  root = mkdtempSync(join(tmpdir(), 'kiln-serve-platforms-'));
  const base = await kiln(['base', 'busybox', '--platform', 'linux/amd64,linux/arm64'], { root });
  assert.is(base.code, 0, base.stderr);
  s = await startServe({ token: true, root });
  ctx = mkdtempSync(join(tmpdir(), 'kiln-serve-platforms-ctx-'));
  clientRoot = mkdtempSync(join(tmpdir(), 'kiln-serve-platforms-client-'));
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\nARG TARGETARCH\nRUN uname -m > /arch && echo $TARGETARCH > /targetarch\n');
});

test.after(async () => {
  await s?.stop();
  for (const name of registered) await unregisterEmulator(name);
  for (const d of [root, ctx, clientRoot]) if (d) rmSync(d, { recursive: true, force: true });
});

test('kiln --host build --platform linux/amd64,linux/arm64 stores an index on the server, listed by /images/json', async () => {
  const r = await kiln(['--root', clientRoot, 'build', '--progress', 'plain', '--platform', 'linux/amd64,linux/arm64', '-t', 'srv:1', ctx], {
    env: { KILN_HOST: s.host, KILN_TOKEN: s.token },
  });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /\[linux\/arm64 2\/2\] RUN uname -m/);
  const raw = JSON.parse(await skopeo(['inspect', '--raw', `oci:${join(root, 'oci')}:docker.io/library/srv:1`])) as {
    manifests: Array<{ platform: { architecture: string } }>;
  };
  assert.equal(
    raw.manifests.map((m) => m.platform.architecture),
    ['amd64', 'arm64'],
  );
  const res = await fetch(`http://127.0.0.1:${s.port}/images/json`, { headers: { Authorization: `Bearer ${s.token}` } });
  const images = (await res.json()) as Array<{ RepoTags: string[] | null }>;
  assert.ok(
    images.some((i) => i.RepoTags?.includes('srv:1')),
    JSON.stringify(images),
  );
  const arm = await kiln(['run', '--rm', '--platform', 'linux/arm64', 'srv:1', 'cat', '/arch'], { root });
  assert.is(arm.stdout.trim(), 'aarch64', arm.stderr);
});

test('GET /images/json lists the index as Docker 25+: its digest as Id, and with manifests=1 each platform manifest', async () => {
  const get = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${s.port}${path}`, { headers: { Authorization: `Bearer ${s.token}` } });
    assert.is(res.status, 200);
    return (await res.json()) as Array<{
      Id: string;
      RepoTags: string[] | null;
      Manifests?: Array<{ ID: string; Available: boolean; ImageData: { Platform: { architecture: string } } }>;
    }>;
  };
  const indexDigest = JSON.parse(await skopeo(['inspect', '--raw', `oci:${join(root, 'oci')}:docker.io/library/srv:1`])) as {
    manifests: Array<{ digest: string }>;
  };
  const row = (await get('/v1.47/images/json?manifests=1')).find((i) => i.RepoTags?.includes('srv:1'))!;
  assert.ok(row, 'srv:1 is listed');
  assert.equal(
    row.Manifests!.map((m) => [m.ID, m.ImageData.Platform.architecture, m.Available]),
    [
      [indexDigest.manifests[0]!.digest, 'amd64', true],
      [indexDigest.manifests[1]!.digest, 'arm64', true],
    ],
  );
  const inspect = (await (await fetch(`http://127.0.0.1:${s.port}/images/srv:1/json`, { headers: { Authorization: `Bearer ${s.token}` } })).json()) as {
    Id: string;
  };
  assert.is(row.Id, inspect.Id, 'list and inspect agree on the id');
  const old = (await get('/v1.46/images/json?manifests=1')).find((i) => i.RepoTags?.includes('srv:1'))!;
  assert.not.ok('Manifests' in old, 'before API 1.47 there is no manifests parameter');
});

test('docker run --platform picks that manifest of an index through the server', async () => {
  for (const [platform, arch] of [
    ['linux/arm64', 'aarch64'],
    ['linux/amd64', 'x86_64'],
  ]) {
    const r = await docker(s, ['run', '--rm', '--platform', platform!, 'srv:1', 'uname', '-m']);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout.trim(), arch);
  }
});

test.run();
