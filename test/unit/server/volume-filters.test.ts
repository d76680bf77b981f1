/** `GET /volumes` and `POST /volumes/prune` filters, as dockerd's. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseFilters } from '../../../src/server/filters.js';
import { volumeListFilter, volumePruneFilter, type VolumeFacts } from '../../../src/server/volume-filters.js';
import { throwsCode } from '../../helpers/assert.js';

const VOLS: VolumeFacts[] = [
  { name: 'web-data', driver: 'local', labels: { app: 'web', tier: 'front' }, anonymous: false, inUse: true },
  { name: 'db-data', driver: 'local', labels: { app: 'db' }, anonymous: false, inUse: false },
  { name: 'f'.repeat(64), driver: 'local', labels: { 'com.docker.volume.anonymous': '' }, anonymous: true, inUse: false },
];
const list = (f: string) => VOLS.filter(volumeListFilter(parseFilters(f))).map((v) => v.name.slice(0, 8));
const prune = (f: string, onlyAnonymous = true) => VOLS.filter(volumePruneFilter(parseFilters(f), { onlyAnonymous })).map((v) => v.name.slice(0, 8));

test('list: dangling, driver, label (key and key=value, all must hold), name (substring)', () => {
  assert.equal(list(''), ['web-data', 'db-data', 'ffffffff']);
  assert.equal(list('{"dangling":["true"]}'), ['db-data', 'ffffffff']);
  assert.equal(list('{"dangling":["0"]}'), ['web-data']);
  assert.equal(list('{"driver":["local"]}'), ['web-data', 'db-data', 'ffffffff']);
  assert.equal(list('{"driver":["nfs"]}'), []);
  assert.equal(list('{"label":["app"]}'), ['web-data', 'db-data']);
  assert.equal(list('{"label":["app=web","tier"]}'), ['web-data']);
  assert.equal(list('{"label":{"app=db":true}}'), ['db-data']);
  assert.equal(list('{"name":["data"]}'), ['web-data', 'db-data']);
  assert.equal(list('{"name":["db","web"]}'), ['web-data', 'db-data']);
  assert.equal(list('{"name":["db"],"dangling":["false"]}'), []);
});

test('list: an unknown filter or a bad dangling value is INVALID_ARGUMENT (400)', () => {
  throwsCode(() => volumeListFilter(parseFilters('{"status":["x"]}')), 'INVALID_ARGUMENT', /invalid filter 'status'/);
  throwsCode(() => volumeListFilter(parseFilters('{"dangling":["maybe"]}')), 'INVALID_ARGUMENT', /dangling=maybe/);
  throwsCode(() => volumeListFilter(parseFilters('{"dangling":["true","false"]}')), 'INVALID_ARGUMENT');
});

test('prune: unused only; anonymous only (API ≥ 1.42) unless all; label and label!', () => {
  assert.equal(prune(''), ['ffffffff']);
  assert.equal(prune('', false), ['db-data', 'ffffffff']);
  assert.equal(prune('{"all":["true"]}'), ['db-data', 'ffffffff']);
  assert.equal(prune('{"all":["false"]}', false), ['ffffffff']);
  assert.equal(prune('{"all":["1"],"label":["app"]}'), ['db-data']);
  assert.equal(prune('{"all":["1"],"label!":["app=db"]}'), ['ffffffff']);
  throwsCode(() => volumePruneFilter(parseFilters('{"until":["1h"]}'), { onlyAnonymous: true }), 'INVALID_ARGUMENT', /invalid filter 'until'/);
  throwsCode(() => volumePruneFilter(parseFilters('{"all":["yes"]}'), { onlyAnonymous: true }), 'INVALID_ARGUMENT', /all=yes/);
});

test.run();
