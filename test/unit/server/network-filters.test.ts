/** `GET /networks` and `POST /networks/prune` filters, as dockerd's. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkNetworkListFilters, matchNetwork, networkPruneFilter } from '../../../src/server/network-filters.js';
import { parseFilters } from '../../../src/server/filters.js';
import type { NetworkInspect } from '../../../src/server/backend.js';
import { throwsCode } from '../../helpers/assert.js';

function net(name: string, o: Partial<NetworkInspect> = {}): NetworkInspect {
  return {
    Id: (name.charCodeAt(0).toString(16) + '0'.repeat(64)).slice(0, 64),
    Name: name,
    Driver: name === 'host' ? 'host' : name === 'none' ? 'null' : 'bridge',
    Created: '2026-01-01T00:00:00Z',
    Scope: 'local',
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: {}, Config: [] },
    Internal: false,
    Attachable: false,
    Ingress: false,
    Labels: {},
    Options: {},
    Containers: {},
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    ...o,
  };
}

const all = [net('bridge'), net('host'), net('none'), net('front', { Labels: { tier: 'web' } }), net('back', { Containers: { x: {} as never } })];
const names = (f: string) => {
  const filters = parseFilters(f);
  checkNetworkListFilters(filters);
  return all.filter((n) => matchNetwork(filters, n)).map((n) => n.Name);
};

test('type, driver, name, label and dangling select as dockerd', () => {
  assert.equal(names('{"type":["custom"]}'), ['front', 'back']);
  assert.equal(names('{"type":["builtin"]}'), ['bridge', 'host', 'none']);
  assert.equal(names('{"driver":["null"]}'), ['none']);
  assert.equal(names('{"name":["ro"]}'), ['front']);
  assert.equal(names('{"label":["tier=web"]}'), ['front']);
  assert.equal(names('{"label":["tier=db"]}'), []);
  assert.equal(names('{"dangling":["true"]}'), ['front']);
  assert.equal(names('{"dangling":["false"]}'), ['bridge', 'host', 'none', 'back']);
  assert.equal(names('{"scope":["swarm"]}'), []);
});

test('an unknown filter or a bad value is a 400', () => {
  throwsCode(() => checkNetworkListFilters(parseFilters('{"status":["x"]}')), 'INVALID_ARGUMENT', /invalid filter 'status'/);
  throwsCode(() => checkNetworkListFilters(parseFilters('{"type":["other"]}')), 'INVALID_ARGUMENT');
  throwsCode(() => checkNetworkListFilters(parseFilters('{"dangling":["maybe"]}')), 'INVALID_ARGUMENT');
});

test('prune takes until, label and label!', () => {
  const keep = networkPruneFilter(parseFilters('{"label!":["keep"]}'));
  assert.ok(keep({ created: '2026-01-01T00:00:00Z', labels: {} }));
  assert.not.ok(keep({ created: '2026-01-01T00:00:00Z', labels: { keep: '' } }));
  const old = networkPruneFilter(parseFilters('{"until":["2025-06-01"]}'));
  assert.not.ok(old({ created: '2026-01-01T00:00:00Z' }));
  throwsCode(() => networkPruneFilter(parseFilters('{"name":["x"]}')), 'INVALID_ARGUMENT');
});

test.run();
