/**
 * User-defined networks as dockerd's `network create` / `rm` make them: a record, a subnet, a bridge with its
 * rules and a DNS server; and their removal, which undoes all of it. Which containers use a network is the
 * container runtime's knowledge, so removal takes the names of the running ones from the caller.
 */
import { emitEvent } from '../events/events.js';
import { KilnError } from '../errors.js';
import { bridgeName, ensureBridgeDevice, removeBridgeDevice } from './bridge-device.js';
import { ensureDnsServer, stopDnsServer } from './dns.js';
import { allocateSubnet, defaultAddressPool, reclaimSubnet, releaseSubnet, type AddressPool } from './ipam.js';
import { createNetworkStore, newNetworkId, NETWORK_NAME } from './store.js';
import { isPredefined, type NetworkCreateOptions, type NetworkRecord } from './types.js';

/** Driver options kiln honours on create: none yet (dockerd's bridge options name a device, an MTU, …). */
const KNOWN_OPTIONS: readonly string[] = [];

/** Creates a network; NETWORK_EXISTS (409) for a taken name, INVALID_ARGUMENT / NOT_IMPLEMENTED for what kiln does not do. */
export async function createNetwork(root: string, o: NetworkCreateOptions, pool: AddressPool = defaultAddressPool()): Promise<NetworkRecord> {
  if (!o.name) throw new KilnError('INVALID_ARGUMENT', 'a network name is required');
  if (!NETWORK_NAME.test(o.name))
    throw new KilnError('INVALID_ARGUMENT', `invalid network name "${o.name}"`, { hint: 'names match [a-zA-Z0-9][a-zA-Z0-9_.-]*' });
  if (isPredefined(o.name)) throw new KilnError('NETWORK_FORBIDDEN', `operation is not permitted on predefined ${o.name} network`);
  const driver = o.driver || 'bridge';
  if (driver !== 'bridge') throw new KilnError('NOT_IMPLEMENTED', `network driver ${JSON.stringify(driver)} is not supported by kiln (only bridge)`);
  if (o.enableIPv6) throw new KilnError('NOT_IMPLEMENTED', 'EnableIPv6 (--ipv6) is not supported by kiln: its networks are IPv4 only');
  for (const k of Object.keys(o.options ?? {})) {
    if (!KNOWN_OPTIONS.includes(k)) throw new KilnError('NOT_IMPLEMENTED', `network option ${JSON.stringify(k)} (--opt) is not supported by kiln`);
  }
  const store = createNetworkStore(root);
  if (
    await store.get(o.name).then(
      (n) => n.Name === o.name,
      () => false,
    )
  ) {
    throw new KilnError('NETWORK_EXISTS', `network with name ${o.name} already exists`);
  }
  const id = newNetworkId();
  const bridge = bridgeName(id);
  const internal = Boolean(o.internal);
  const cfg = await allocateSubnet({ subnet: o.subnet, gateway: o.gateway, ipRange: o.ipRange }, { root, networkId: id, bridge, internal }, pool);
  const rec: NetworkRecord = {
    Id: id,
    Name: o.name,
    Driver: 'bridge',
    // RFC 3339 with fractional seconds, trailing zeros trimmed (Go's RFC3339Nano).
    Created: new Date().toISOString().replace(/\.?0+Z$/, 'Z'),
    Scope: 'local',
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: {}, Config: [cfg] },
    Internal: internal,
    Attachable: Boolean(o.attachable),
    Ingress: false,
    Labels: { ...(o.labels ?? {}) },
    Options: { ...(o.options ?? {}) },
    ...(o.subnet && !o.gateway ? { gatewayImplicit: true } : {}),
  };
  try {
    await store.create(rec);
    await ensureNetworkUp(root, rec);
  } catch (err) {
    await teardown(root, rec, { keepRecord: (err as KilnError).code === 'NETWORK_EXISTS' }).catch(() => {});
    throw err;
  }
  emitEvent(root, 'network', 'create', id, { name: rec.Name, type: 'bridge' });
  return rec;
}

/** The bridge, its rules and its DNS server, made again if missing (after a reboot, say); idempotent. */
export async function ensureNetworkUp(root: string, rec: NetworkRecord): Promise<void> {
  const cfg = rec.IPAM.Config[0]!;
  await reclaimSubnet({ root, networkId: rec.Id, subnet: cfg.Subnet, gateway: cfg.Gateway, bridge: bridgeName(rec.Id), internal: rec.Internal });
  await ensureBridgeDevice({ bridge: bridgeName(rec.Id), subnet: cfg.Subnet, gateway: cfg.Gateway, internal: rec.Internal });
  await ensureDnsServer(rec.Id, cfg.Gateway);
}

/** Undoes a network's host state (DNS, bridge, rules, leases) and, unless `keepRecord`, its record. */
export async function teardown(root: string, rec: NetworkRecord, o: { keepRecord?: boolean } = {}): Promise<void> {
  const cfg = rec.IPAM.Config[0];
  await stopDnsServer(rec.Id);
  if (cfg) {
    await removeBridgeDevice({ bridge: bridgeName(rec.Id), subnet: cfg.Subnet, gateway: cfg.Gateway, internal: rec.Internal });
    await releaseSubnet(cfg.Subnet, rec.Id);
  }
  if (!o.keepRecord) await createNetworkStore(root).remove(rec);
}

/**
 * `network rm`: NETWORK_FORBIDDEN (403) for a predefined network or one that running containers (`active`, their
 * names) are on, with dockerd's messages.
 */
export async function removeNetwork(root: string, rec: NetworkRecord, active: string[]): Promise<void> {
  if (isPredefined(rec.Name)) throw new KilnError('NETWORK_FORBIDDEN', `${rec.Name} is a pre-defined network and cannot be removed`);
  if (active.length) {
    // dockerd's message as is (clients match on it); the containers are in the error's details.
    throw new KilnError('NETWORK_FORBIDDEN', `error while removing network: network ${rec.Name} id ${rec.Id} has active endpoints`, {
      details: { containers: active },
    });
  }
  await teardown(root, rec);
  emitEvent(root, 'network', 'destroy', rec.Id, { name: rec.Name, type: 'bridge' });
}
