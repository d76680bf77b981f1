/**
 * A `type=local` cache directory is data from elsewhere (a CI cache action restored it): symlinks planted in it
 * must never make kiln read or write host files. Host canaries: nothing under them is read, changed or leaked.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { loadLocalCache, writeLocalCache } from '../../../src/remote-cache/local-cache.js';
import { buildCacheConfig } from '../../../src/remote-cache/cache-config.js';
import { plantCanary, type Canary } from './canary.js';

let canary: Canary;
let dir: string;
const platform = { os: 'linux', architecture: 'amd64' };
test.before(async () => {
  canary = await plantCanary();
  dir = await mkdtemp(join(tmpdir(), 'kiln-hostile-cache-'));
});
test.after(async () => {
  await canary.remove();
  await rm(dir, { recursive: true, force: true });
});

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function validCache(cacheDir: string): Promise<{ layer: Buffer; digest: string }> {
  const layer = Buffer.from('not really a tar, only bytes');
  const desc = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length };
  const { config, layers } = buildCacheConfig([{ key: sha('k'), created: '2026-01-01T00:00:00Z', layer: { desc, diffId: sha(layer), size: layer.length } }]);
  await writeLocalCache(cacheDir, 'latest', { config: Buffer.from(JSON.stringify(config)), layers, open: async () => Readable.from([layer]) });
  return { layer, digest: desc.digest };
}

test('a blob replaced by a symlink to a host file is refused, never read', async () => {
  const cacheDir = join(dir, 'blob-link');
  const { digest } = await validCache(cacheDir);
  const blob = join(cacheDir, 'blobs', 'sha256', digest.slice(7));
  await rm(blob);
  await symlink(canary.file, blob);
  const loaded = await loadLocalCache(cacheDir, 'latest', platform);
  const layer = loaded!.parsed.records.get(sha('k'))!.layer!;
  const err = await loaded!.open(layer.desc, 0).then(
    () => undefined,
    (e: { code?: string; message: string }) => e,
  );
  assert.ok(err, 'opening the planted symlink fails');
  canary.assertSecretAbsent('error', err!.message);
  await canary.assertUntouched('blob symlink');
});

test('index.json or the blobs directory as a symlink out: import refuses, export writes nothing through it', async () => {
  const cacheDir = join(dir, 'index-link');
  await mkdir(cacheDir);
  await symlink(canary.file, join(cacheDir, 'index.json'));
  const err = await loadLocalCache(cacheDir, 'latest', platform).then(
    () => undefined,
    (e: { code?: string; message: string }) => e,
  );
  assert.is(err?.code, 'UNSAFE_PATH');
  canary.assertSecretAbsent('error', err!.message);

  const outDir = join(dir, 'blobs-link');
  await mkdir(outDir);
  await symlink(canary.subdir, join(outDir, 'blobs'));
  const werr = await validCache(outDir).then(
    () => undefined,
    (e: { code?: string }) => e,
  );
  assert.is(werr?.code, 'UNSAFE_PATH');
  await canary.assertUntouched('blobs symlink');
  assert.not.match(await readFile(canary.file, 'utf8'), /imageLayoutVersion/);
});

test.run();
