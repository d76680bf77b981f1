import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import {
  buildCacheConfig,
  cacheMountDigest,
  cacheMountLayer,
  encodeCacheConfig,
  parseCacheConfig,
  type CacheEntry,
} from '../../../src/remote-cache/cache-config.js';
import type { Descriptor } from '../../../src/image/types.js';

const d = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const blob = (s: string, size = 10): Descriptor => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d(`blob ${s}`), size });
const layer = (s: string) => ({ desc: blob(s), diffId: d(`diff ${s}`), size: 100 });

const entries: CacheEntry[] = [
  { key: d('k1'), created: '2026-01-01T00:00:00Z', layer: layer('a') },
  { key: d('k2'), created: '2026-01-01T00:00:01Z', layer: layer('b'), parentBlob: blob('a').digest, parentKey: d('k1') },
  { key: d('k3'), created: '2026-01-01T00:00:02Z', parentKey: d('k2') },
];

test('the config is BuildKit-shaped, sorted and deterministic whatever the entry order', () => {
  const one = buildCacheConfig(entries, [{ id: 'pkgs', created: 't', layer: layer('m') }]);
  const two = buildCacheConfig([...entries].reverse(), [{ id: 'pkgs', created: 't', layer: layer('m') }]);
  assert.equal(encodeCacheConfig(one.config, 'x'), encodeCacheConfig(two.config, 'x'));
  const layers = one.config.layers!;
  assert.equal(
    layers.map((l) => l.blob),
    [...layers.map((l) => l.blob)].sort(),
  );
  const records = one.config.records!;
  assert.equal(
    records.map((r) => r.digest),
    [...records.map((r) => r.digest)].sort(),
  );
  // The parent link of layer b is layer a; a has none (-1).
  const ia = layers.findIndex((l) => l.blob === blob('a').digest);
  const ib = layers.findIndex((l) => l.blob === blob('b').digest);
  assert.is(layers[ib]!.parent, ia);
  assert.is(layers[ia]!.parent, -1);
  assert.is(layers[ia]!.annotations!.diffID, d('diff a'));
  // k2 names layer b and links its input to k1's record; k3 (empty diff) has one empty chain.
  const r2 = records.find((r) => r.digest === d('k2'))!;
  assert.equal(r2.layers, [{ layer: ib, createdAt: '2026-01-01T00:00:01Z' }]);
  assert.is(records[r2.inputs![0]![0]!.link]!.digest, d('k1'));
  const r3 = records.find((r) => r.digest === d('k3'))!;
  assert.equal(r3.chains, [{ layers: [], createdAt: '2026-01-01T00:00:02Z' }]);
  // Manifest layers carry the uncompressed digest annotation.
  for (const l of one.layers) assert.match(l.annotations!['containerd.io/uncompressed']!, /^sha256:/);
});

test('parse gives back every record, empty results and cache mounts included', () => {
  const { config, layers } = buildCacheConfig(entries, [{ id: 'pkgs', created: 't', layer: layer('m') }]);
  const parsed = parseCacheConfig(JSON.parse(encodeCacheConfig(config, 'x').toString()), layers, 'x');
  assert.is(parsed.records.get(d('k1'))!.layer!.desc.digest, blob('a').digest);
  assert.is(parsed.records.get(d('k1'))!.layer!.diffId, d('diff a'));
  assert.is(parsed.records.get(d('k1'))!.layer!.size, 100, 'the uncompressed size travels');
  assert.is(parsed.records.get(d('k3'))!.layer, undefined);
  assert.is(parsed.records.get(d('k3'))!.created, '2026-01-01T00:00:02Z');
  assert.is(cacheMountLayer(parsed, 'pkgs')!.desc.digest, blob('m').digest);
  assert.is(cacheMountLayer(parsed, 'other'), undefined);
  assert.is.not(cacheMountDigest('pkgs'), cacheMountDigest('pkgs2'));
});

test('a record whose blob is not among the descriptors is dropped, the rest kept', () => {
  const { config, layers } = buildCacheConfig(entries);
  const parsed = parseCacheConfig(
    config,
    layers.filter((l) => l.digest !== blob('b').digest),
    'x',
  );
  assert.ok(parsed.records.has(d('k1')));
  assert.not.ok(parsed.records.has(d('k2')));
});

test('malformed configs are refused as a whole with CACHE_INVALID', () => {
  const bad: unknown[] = [
    null,
    [],
    { layers: 'x' },
    { layers: [{ blob: 'nope' }] },
    { layers: [{ blob: d('x'), parent: 0 }] },
    { layers: [{ blob: d('x'), parent: 7 }] },
    { records: [{ digest: 'sha256:zz' }] },
    { layers: [], records: [{ digest: d('k'), layers: [{ layer: 3 }] }] },
  ];
  for (const raw of bad) {
    try {
      parseCacheConfig(raw, [], 'cache r');
      assert.unreachable(JSON.stringify(raw));
    } catch (err) {
      assert.is((err as { code?: string }).code, 'CACHE_INVALID', JSON.stringify(raw));
      assert.match((err as Error).message, /^cache r: invalid cache config/);
    }
  }
});

test('a config over 1 MiB is refused with CACHE_TOO_LARGE, as BuildKit refuses it on import', () => {
  const many: CacheEntry[] = Array.from({ length: 12_000 }, (_, i) => ({ key: d(`k${i}`), created: '2026-01-01T00:00:00Z', layer: layer(`l${i}`) }));
  const { config } = buildCacheConfig(many);
  try {
    encodeCacheConfig(config, 'cache big');
    assert.unreachable();
  } catch (err) {
    assert.is((err as { code?: string }).code, 'CACHE_TOO_LARGE');
    assert.match((err as Error).message, /cache big/);
  }
});

test.run();
