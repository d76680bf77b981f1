/**
 * A container's place on user-defined networks (src/networks/): which networks a new container joins
 * (`--network NAME`, `--network-alias`, `--ip`, the Engine API's NetworkingConfig), joining them when it starts
 * and leaving them when it exits, and `network connect` / `disconnect` of a stopped (the record only) or running
 * container (its live namespace too, and the DNS records). Endpoints are kept in ContainerRecord.networks by
 * network name; `bridge` there means kiln's default bridge alongside.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { emitEvent } from '../events/events.js';
import { KilnError } from '../errors.js';
import { addEndpoint, containerNetns, joinNetworks, leaveNamespace, removeEndpoint, type EndpointRequest } from '../networks/endpoints.js';
import { contains, formatCidr, lastIp, parseCidr, parseIp } from '../networks/cidr.js';
import { createNetworkStore } from '../networks/store.js';
import { isPredefined, type NetworkRecord } from '../networks/types.js';
import { bundleDir } from '../sandbox/executor.js';
import type { JoinedNamespace, NetworkMode } from '../sandbox/types.js';
import { createContainerStore, type ContainerRecord, type EndpointRecord } from './containers.js';
// Registers the networks' crash sweep with the sandbox's start-up clean-up in every process that runs containers.
import '../networks/sweep.js';

/** What a create asks of one network: `--network-alias`, `--ip`. */
export interface EndpointOptions {
  aliases?: string[];
  ipv4Address?: string;
}

function newEndpointId(): string {
  return randomBytes(32).toString('hex');
}

/** `--ip` must be an address of the network's subnet (checked at create and connect; leased at start). */
function checkRequestedIp(net: NetworkRecord, ip: string | undefined): void {
  if (!ip) return;
  const subnet = parseCidr(net.IPAM.Config[0]!.Subnet, 'subnet');
  const n = parseIp(ip);
  if (n === undefined) throw new KilnError('INVALID_ARGUMENT', `invalid IPv4 address ${JSON.stringify(ip)} (--ip)`);
  if (!contains(subnet, n) || n === subnet.base || n === lastIp(subnet)) {
    throw new KilnError('INVALID_ARGUMENT', `Invalid address ${ip}: It does not belong to any of this network's subnets (${net.Name}: ${formatCidr(subnet)})`);
  }
}

function refuseOnPredefined(name: string, o: EndpointOptions | undefined): void {
  if (o?.aliases?.length) throw new KilnError('INVALID_ARGUMENT', 'network-scoped alias is supported only for containers in user defined networks');
  if (o?.ipv4Address) throw new KilnError('INVALID_ARGUMENT', `user specified IP address is supported on user defined networks only (not on ${name})`);
}

/**
 * The network mode and endpoints of a new container. `mode`: Docker's NetworkMode (absent, `default`, `bridge`,
 * `host`, `none`, or a user-defined network's name or id: NETWORK_NOT_FOUND when there is none). `endpoints`: per
 * network name or id, its aliases and address (those on other user-defined networks are joined too).
 */
export async function resolveCreateNetworks(
  root: string,
  mode: string | undefined,
  endpoints: Record<string, EndpointOptions> = {},
): Promise<{ network: NetworkMode; networks?: Record<string, EndpointRecord> }> {
  const store = createNetworkStore(root);
  const primary = !mode || mode === 'default' ? 'bridge' : mode;
  const nets: Array<{ net: NetworkRecord; o?: EndpointOptions }> = [];
  const seen = new Set<string>();
  const lookup = async (ref: string) => store.get(ref);
  const primaryNet = isPredefined(primary) ? undefined : await lookup(primary);
  const forPrimary = (k: string) => k === primary || k === primaryNet?.Id || k === primaryNet?.Name || (primary === 'bridge' && k === 'default');
  if (primaryNet) {
    const key = Object.keys(endpoints).find(forPrimary);
    nets.push({ net: primaryNet, o: key ? endpoints[key] : undefined });
    seen.add(primaryNet.Id);
  }
  for (const [key, o] of Object.entries(endpoints)) {
    if (forPrimary(key)) {
      if (!primaryNet) refuseOnPredefined(primary, o);
      continue;
    }
    const net = await lookup(key);
    if (isPredefined(net.Name)) {
      throw new KilnError('INVALID_ARGUMENT', `container cannot be connected to network ${net.Name} and ${primary} at create time`, {
        hint: 'connect it after create (network connect)',
      });
    }
    if (primary === 'host' || primary === 'none') throw new KilnError('INVALID_ARGUMENT', `a container on network ${primary} cannot join ${net.Name}`);
    if (!seen.has(net.Id)) nets.push({ net, o });
    seen.add(net.Id);
  }
  if (!nets.length) return { network: primary as 'bridge' | 'host' | 'none' };
  const networks: Record<string, EndpointRecord> = {};
  if (!primaryNet) networks.bridge = { networkId: (await store.get('bridge')).Id, endpointId: newEndpointId(), aliases: [] };
  for (const { net, o } of nets) {
    checkRequestedIp(net, o?.ipv4Address);
    networks[net.Name] = {
      networkId: net.Id,
      endpointId: newEndpointId(),
      aliases: [...(o?.aliases ?? [])],
      ...(o?.ipv4Address ? { ipv4Address: o.ipv4Address } : {}),
    };
  }
  // With user-defined networks the namespace is made by src/networks; `none` is what is left if all are disconnected.
  return { network: primaryNet ? 'none' : 'bridge', networks };
}

/** The mode the executor sets up when the container has no user-defined network: kiln0 when the record keeps it. */
export function executorNetwork(rec: ContainerRecord): NetworkMode {
  if (!rec.networks || rec.spec.network === 'host') return rec.spec.network;
  return rec.networks.bridge ? 'bridge' : 'none';
}

/** The user-defined networks in a record, in joining order. */
function userEndpoints(rec: ContainerRecord): Array<[string, EndpointRecord]> {
  return Object.entries(rec.networks ?? {}).filter(([name]) => !isPredefined(name));
}

export interface JoinedContainer {
  mode: JoinedNamespace;
  /** resolv.conf's nameserver: the first user-defined network's gateway (its DNS server). */
  nameservers: string[];
  networks: Record<string, EndpointRecord>;
  ip?: string;
}

/**
 * Joins a starting container to its user-defined networks (and kiln0 when `bridge` is among them); undefined when it
 * has none (the executor sets up its network as before). NETWORK_NOT_FOUND when a network is gone.
 */
export async function joinContainerNetworks(root: string, rec: ContainerRecord, pid = process.pid): Promise<JoinedContainer | undefined> {
  const users = userEndpoints(rec);
  if (!users.length) return undefined;
  const store = createNetworkStore(root);
  const reqs: EndpointRequest[] = [];
  for (const [name, ep] of users) {
    const net = await store.get(ep.networkId).catch(() => {
      throw new KilnError('NETWORK_NOT_FOUND', `network ${name} not found`, {
        hint: `disconnect the container from it (network disconnect ${name} ${rec.name})`,
      });
    });
    reqs.push({ net, endpointId: ep.endpointId, aliases: ep.aliases, ipv4Address: ep.ipv4Address });
  }
  // A bundle directory marks the container live for the sandbox's sweep of kiln0 leases before the executor runs.
  await mkdir(bundleDir(root, rec.id), { recursive: true });
  const defaultBridge = Boolean(rec.networks?.bridge);
  const joined = await joinNetworks({ root, id: rec.id, name: rec.name, pid }, reqs, { defaultBridge });
  const networks: Record<string, EndpointRecord> = { ...rec.networks };
  if (defaultBridge && joined.bridgeIp) networks.bridge = { ...networks.bridge!, ip: joined.bridgeIp, prefixLen: 16, gateway: '10.89.0.1' };
  users.forEach(([name, ep], i) => {
    const a = joined.endpoints[i]!;
    networks[name] = { ...ep, ip: a.ip, prefixLen: a.prefixLen, gateway: a.gateway, mac: a.mac };
  });
  const ip = joined.bridgeIp ?? joined.endpoints[0]?.ip;
  return { mode: { path: joined.nsPath, ...(ip ? { ip } : {}) }, nameservers: [users.length ? networks[users[0]![0]]!.gateway! : ''], networks, ip };
}

function withoutAddress(ep: EndpointRecord): EndpointRecord {
  const { ip: _ip, prefixLen: _p, gateway: _g, mac: _m, ...rest } = ep;
  return rest;
}

/**
 * Leaves every user-defined network of an exited container: DNS records and address leases freed, its namespace
 * deleted (with kiln0's lease when it had one), addresses cleared from the record. Safe to call twice.
 */
export async function leaveContainerNetworks(root: string, id: string): Promise<void> {
  const store = createContainerStore({ root });
  const rec = await store.get(id).catch(() => undefined);
  if (!rec?.networks) return;
  const users = userEndpoints(rec);
  for (const [, ep] of users) await removeEndpoint(undefined, id, ep.networkId, ep.ip).catch(() => {});
  if (users.some(([, ep]) => ep.ip) || rec.networks.bridge?.ip) await leaveNamespace(root, id).catch(() => {});
  const networks = Object.fromEntries(Object.entries(rec.networks).map(([k, ep]) => [k, withoutAddress(ep)]));
  await store.update(id, { networks }).catch(() => {});
}

/** The record's endpoints, with the default bridge made explicit (older records keep it only in `network`). */
function currentEndpoints(rec: ContainerRecord, bridgeId: string): Record<string, EndpointRecord> {
  if (rec.networks) return { ...rec.networks };
  if (rec.spec.network !== 'bridge') return {};
  // A stable endpoint id for a container that joined kiln0 before records had endpoints.
  const endpointId = createHash('sha256').update(`kiln-endpoint\0${rec.id}`).digest('hex');
  return { bridge: { networkId: bridgeId, endpointId, aliases: [], ...(rec.ip ? { ip: rec.ip, prefixLen: 16, gateway: '10.89.0.1' } : {}) } };
}

/** `network connect`: NETWORK_FORBIDDEN when already connected, or on host/none; the running container's namespace gets the endpoint now. */
export async function connectContainer(root: string, netRef: string, containerRef: string, o: EndpointOptions = {}): Promise<void> {
  const net = await createNetworkStore(root).get(netRef);
  const store = createContainerStore({ root });
  const rec = await store.get(containerRef);
  if (net.Name === 'host' || net.Name === 'none')
    throw new KilnError('NETWORK_FORBIDDEN', `container cannot be disconnected from host network or connected to host network`);
  if (rec.spec.network === 'host' || (rec.spec.network === 'none' && !rec.networks)) {
    throw new KilnError('NETWORK_FORBIDDEN', `container ${rec.name} is on network ${rec.spec.network}: it cannot be connected to any other network`);
  }
  const bridgeId = (await createNetworkStore(root).get('bridge')).Id;
  const eps = currentEndpoints(rec, bridgeId);
  if (eps[net.Name]) throw new KilnError('NETWORK_FORBIDDEN', `endpoint with name ${rec.name} already exists in network ${net.Name}`);
  if (net.Name === 'bridge') {
    refuseOnPredefined('bridge', o);
    if (rec.status === 'running')
      throw new KilnError('NOT_IMPLEMENTED', 'connecting a running container to the default bridge is not supported by kiln; stop it first');
    eps.bridge = { networkId: net.Id, endpointId: newEndpointId(), aliases: [] };
    await store.update(rec.id, { networks: eps });
  } else {
    const ep: EndpointRecord = {
      networkId: net.Id,
      endpointId: newEndpointId(),
      aliases: [...(o.aliases ?? [])],
      ...(o.ipv4Address ? { ipv4Address: o.ipv4Address } : {}),
    };
    const ns = rec.status === 'running' ? await containerNetns(rec.id) : undefined;
    if (rec.status === 'running') {
      if (!ns || !rec.pid) throw new KilnError('NETWORK_FAILED', `container ${rec.name} has no network namespace to connect`);
      const a = await addEndpoint(
        ns,
        { root, id: rec.id, name: rec.name, pid: rec.pid },
        { net, endpointId: ep.endpointId, aliases: ep.aliases, ipv4Address: ep.ipv4Address },
      );
      Object.assign(ep, { ip: a.ip, prefixLen: a.prefixLen, gateway: a.gateway, mac: a.mac });
    } else checkRequestedIp(net, o.ipv4Address);
    eps[net.Name] = ep;
    await store.update(rec.id, { networks: eps });
  }
  emitEvent(root, 'network', 'connect', net.Id, { container: rec.id, name: net.Name, type: 'bridge' });
}

/** `network disconnect`: a running container loses the endpoint now. `force`: a missing container is not an error. */
export async function disconnectContainer(root: string, netRef: string, containerRef: string, o: { force?: boolean } = {}): Promise<void> {
  const net = await createNetworkStore(root).get(netRef);
  const store = createContainerStore({ root });
  const rec = await store.get(containerRef).catch((err) => {
    if (o.force) return undefined;
    throw err;
  });
  if (!rec) return;
  const bridgeId = (await createNetworkStore(root).get('bridge')).Id;
  const eps = currentEndpoints(rec, bridgeId);
  const ep = eps[net.Name];
  if (!ep) {
    if (net.Name === 'host' && rec.spec.network === 'host')
      throw new KilnError('NETWORK_FORBIDDEN', 'container cannot be disconnected from host network or connected to host network');
    throw new KilnError('NETWORK_FORBIDDEN', `container ${rec.id} is not connected to network ${net.Name}`);
  }
  if (rec.status === 'running') {
    if (net.Name === 'bridge')
      throw new KilnError('NOT_IMPLEMENTED', 'disconnecting a running container from the default bridge is not supported by kiln; stop it first');
    await removeEndpoint(await containerNetns(rec.id), rec.id, ep.networkId, ep.ip);
  }
  delete eps[net.Name];
  // Without kiln0 the container starts in a namespace of its own: the networks left, else none (loopback only).
  await store.update(rec.id, { networks: eps, ...(net.Name === 'bridge' ? { spec: { ...rec.spec, network: 'none' as const } } : {}) });
  emitEvent(root, 'network', 'disconnect', net.Id, { container: rec.id, name: net.Name, type: 'bridge' });
}

/** Running containers with an endpoint on network `net` (the default bridge: those on kiln0). */
export async function containersOnNetwork(root: string, net: NetworkRecord): Promise<Array<{ rec: ContainerRecord; ep: EndpointRecord }>> {
  const out: Array<{ rec: ContainerRecord; ep: EndpointRecord }> = [];
  for (const rec of await createContainerStore({ root }).list()) {
    if (rec.status !== 'running') continue;
    const eps = currentEndpoints(rec, net.Id);
    const ep = eps[net.Name];
    if (ep && (net.Name !== 'bridge' || ep.ip || rec.ip)) out.push({ rec, ep: { ...ep, ip: ep.ip ?? rec.ip } });
  }
  return out;
}

/** NetworkSettings.Networks of `docker inspect`: per network, its endpoint as dockerd shows it. */
/** Docker's EndpointSettings (api/types/network) as dockerd 20.10 answers it. */
export interface EndpointSettings {
  IPAMConfig: { IPv4Address: string } | null;
  Links: null;
  Aliases: string[] | null;
  NetworkID: string;
  EndpointID: string;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  IPv6Gateway: string;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  MacAddress: string;
  DriverOpts: null;
}

export async function endpointSettings(root: string, rec: ContainerRecord): Promise<Record<string, EndpointSettings>> {
  const bridgeId = createNetworkStore(root)
    .get('bridge')
    .then((n) => n.Id);
  const out: Record<string, EndpointSettings> = {};
  const eps = currentEndpoints(rec, await bridgeId);
  const mode = rec.spec.network;
  if (!Object.keys(eps).length && (mode === 'host' || mode === 'none')) {
    // As dockerd: a container on host or none has that network's endpoint (no address).
    const networkId = await createNetworkStore(root)
      .get(mode)
      .then((n) => n.Id);
    eps[mode] = { networkId, endpointId: createHash('sha256').update(`kiln-endpoint\0${rec.id}`).digest('hex'), aliases: [] };
  }
  for (const [name, ep] of Object.entries(eps)) {
    const user = !isPredefined(name);
    const running = rec.status === 'running' || rec.status === 'restarting';
    out[name] = {
      IPAMConfig: ep.ipv4Address ? { IPv4Address: ep.ipv4Address } : null,
      Links: null,
      // dockerd adds the short id on user-defined networks (compose 1.29 reads it to see the endpoint is current).
      Aliases: user ? [...new Set([...ep.aliases, rec.id.slice(0, 12)])] : null,
      NetworkID: ep.networkId,
      EndpointID: running ? ep.endpointId : '',
      Gateway: running ? (ep.gateway ?? '') : '',
      IPAddress: running ? (ep.ip ?? '') : '',
      IPPrefixLen: running ? (ep.prefixLen ?? 0) : 0,
      IPv6Gateway: '',
      GlobalIPv6Address: '',
      GlobalIPv6PrefixLen: 0,
      MacAddress: running ? (ep.mac ?? '') : '',
      // No DNSNames: API 1.44 added it; the answers kiln matches are dockerd 20.10's (API 1.41).
      DriverOpts: null,
    };
  }
  return out;
}
