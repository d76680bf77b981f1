/** The network store: predefined networks, lookups by name, id and prefix, duplicate names, removal. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNetworkStore, newNetworkId, predefinedId } from '../../../src/networks/store.js';
import type { NetworkRecord } from '../../../src/networks/types.js';
import { endpointNames } from '../../../src/networks/dns.js';
import { bridgeName } from '../../../src/networks/bridge-device.js';
import { embeddedResolvConf } from '../../../src/sandbox/etc-files.js';
import { rejects } from '../../helpers/assert.js';

const roots: string[] = [];
function root(): string {
  const r = mkdtempSync(join(tmpdir(), 'kiln-net-store-'));
  roots.push(r);
  return r;
}

function rec(name: string, id = newNetworkId()): NetworkRecord {
  return {
    Id: id,
    Name: name,
    Driver: 'bridge',
    Created: new Date().toISOString(),
    Scope: 'local',
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: {}, Config: [{ Subnet: '10.90.0.0/24', Gateway: '10.90.0.1' }] },
    Internal: false,
    Attachable: false,
    Ingress: false,
    Labels: {},
    Options: {},
  };
}

test.after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

test('bridge, host and none are always listed, with ids stable per root and different between roots', async () => {
  const [a, b] = [root(), root()];
  const list = await createNetworkStore(a).list();
  assert.equal(
    list.map((n) => [n.Name, n.Driver]),
    [
      ['bridge', 'bridge'],
      ['host', 'host'],
      ['none', 'null'],
    ],
  );
  assert.is(list[0]!.IPAM.Config[0]!.Subnet, '10.89.0.0/16');
  assert.is((await createNetworkStore(a).get('bridge')).Id, predefinedId(a, 'bridge'));
  assert.is.not(predefinedId(a, 'bridge'), predefinedId(b, 'bridge'));
  assert.match(predefinedId(a, 'none'), /^[0-9a-f]{64}$/);
});

test('a network is found by name, full id or unique prefix; an unknown one is NETWORK_NOT_FOUND', async () => {
  const s = createNetworkStore(root());
  const n = rec('n1');
  await s.create(n);
  assert.is((await s.get('n1')).Id, n.Id);
  assert.is((await s.get(n.Id)).Name, 'n1');
  assert.is((await s.get(n.Id.slice(0, 10))).Name, 'n1');
  await rejects(() => s.get('nosuch'), 'NETWORK_NOT_FOUND', /network nosuch not found/);
  assert.equal(
    (await s.list()).map((x) => x.Name),
    ['bridge', 'host', 'none', 'n1'],
  );
});

test('a taken name is NETWORK_EXISTS; a bad or predefined name is refused; removal frees the name', async () => {
  const r = root();
  const s = createNetworkStore(r);
  const n = rec('dup');
  await s.create(n);
  await rejects(() => s.create(rec('dup')), 'NETWORK_EXISTS', /network with name dup already exists/);
  await rejects(() => s.create(rec('../x')), 'INVALID_ARGUMENT');
  await rejects(() => s.create(rec('bridge')), 'NETWORK_FORBIDDEN');
  await s.remove(n);
  assert.not.ok(existsSync(join(r, 'networks', n.Id)));
  await s.create(rec('dup'));
});

test('names served by the DNS server, bridge names and resolv.conf for user-defined networks', () => {
  const id = 'ab'.repeat(32);
  assert.equal(endpointNames(id, 'web', ['api', 'web']), ['web', 'abababababab', 'api']);
  assert.is(bridgeName(id), 'kbr-abababababa');
  assert.ok(bridgeName(id).length <= 15);
  const host = 'nameserver 127.0.0.53\nsearch example.com\noptions edns0 trust-ad\n';
  assert.is(embeddedResolvConf(host, ['10.90.0.1']), 'nameserver 10.90.0.1\nsearch example.com\noptions edns0 trust-ad\n');
});

test.run();
