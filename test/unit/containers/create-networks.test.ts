/** Which networks a new container joins (`--network`, `--network-alias`, `--ip`, NetworkingConfig), from the store alone. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveCreateNetworks } from '../../../src/containers/container-networks.js';
import { createNetworkStore, newNetworkId } from '../../../src/networks/store.js';
import type { NetworkRecord } from '../../../src/networks/types.js';
import { rejects } from '../../helpers/assert.js';

const root = mkdtempSync(join(tmpdir(), 'kiln-net-create-'));
const nets: Record<string, NetworkRecord> = {};

test.before(async () => {
  for (const [name, subnet] of [
    ['proj_default', '10.90.7.0/24'],
    ['proj_extra', '10.90.8.0/24'],
  ] as const) {
    nets[name] = {
      Id: newNetworkId(),
      Name: name,
      Driver: 'bridge',
      Created: new Date().toISOString(),
      Scope: 'local',
      EnableIPv6: false,
      IPAM: { Driver: 'default', Options: {}, Config: [{ Subnet: subnet, Gateway: subnet.replace(/0\/24$/, '1') }] },
      Internal: false,
      Attachable: false,
      Ingress: false,
      Labels: {},
      Options: {},
    };
    await createNetworkStore(root).create(nets[name]!);
  }
});

test.after(() => rmSync(root, { recursive: true, force: true }));

test('the default, bridge, host and none modes keep the executor modes and no endpoints', async () => {
  assert.equal(await resolveCreateNetworks(root, undefined), { network: 'bridge' });
  assert.equal(await resolveCreateNetworks(root, 'default', { default: {} }), { network: 'bridge' });
  assert.equal(await resolveCreateNetworks(root, 'host'), { network: 'host' });
  assert.equal(await resolveCreateNetworks(root, 'none'), { network: 'none' });
});

test("compose's shape: NetworkMode and EndpointsConfig name the project network, aliases kept; by id too", async () => {
  const r = await resolveCreateNetworks(root, 'proj_default', { proj_default: { aliases: ['web'] } });
  assert.is(r.network, 'none');
  assert.equal(Object.keys(r.networks!), ['proj_default']);
  assert.equal(r.networks!.proj_default!.aliases, ['web']);
  assert.is(r.networks!.proj_default!.networkId, nets.proj_default!.Id);
  assert.match(r.networks!.proj_default!.endpointId, /^[0-9a-f]{64}$/);
  const byId = await resolveCreateNetworks(root, nets.proj_extra!.Id.slice(0, 12), { proj_default: { ipv4Address: '10.90.7.9' } });
  assert.equal(Object.keys(byId.networks!), ['proj_extra', 'proj_default']);
  assert.is(byId.networks!.proj_default!.ipv4Address, '10.90.7.9');
});

test('unknown networks, --ip and aliases on the default bridge, and an address outside the subnet are refused', async () => {
  await rejects(() => resolveCreateNetworks(root, 'nosuch'), 'NETWORK_NOT_FOUND', /network nosuch not found/);
  await rejects(() => resolveCreateNetworks(root, 'bridge', { bridge: { ipv4Address: '10.89.0.9' } }), 'INVALID_ARGUMENT', /user defined networks only/);
  await rejects(() => resolveCreateNetworks(root, undefined, { default: { aliases: ['x'] } }), 'INVALID_ARGUMENT', /network-scoped alias/);
  await rejects(
    () => resolveCreateNetworks(root, 'proj_default', { proj_default: { ipv4Address: '10.90.8.5' } }),
    'INVALID_ARGUMENT',
    /does not belong to any of this network's subnets/,
  );
  await rejects(() => resolveCreateNetworks(root, 'host', { proj_extra: {} }), 'INVALID_ARGUMENT');
});

test.run();
