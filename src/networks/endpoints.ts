/**
 * A container's endpoints on user-defined networks: its own network namespace (`knet-<16 hex of the id>`, or
 * kiln0's `kiln-<16 hex>` when it is on the default bridge too, made by sandbox/bridge.ts), one veth per network
 * (`ethN` inside, `kn<13 hex of the endpoint id>` on the network's bridge), the address lease, and the DNS record.
 * The default route goes through the first network that is not internal. Namespaces are created here and handed
 * to the executor as a path, so a connect or disconnect can reach a running container's namespace.
 */
import { mkdir, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors.js';
import { attachBridge, releaseStaleNetwork } from '../sandbox/bridge.js';
import { tool } from '../sandbox/tool.js';
import { bridgeName } from './bridge-device.js';
import { parseCidr } from './cidr.js';
import { endpointNames, removeDnsRecord, writeDnsRecord } from './dns.js';
import { leaseAddress, releaseAddress, RUN_DIR } from './ipam.js';
import { processStartTime } from '../sandbox/owner.js';
import { ensureNetworkUp } from './networks.js';
import type { NetworkRecord } from './types.js';

export const NETNS_PREFIX = 'knet-';
/** Who owns each knet- namespace (written before it is made, so a sweep never takes one being set up). */
export const NETNS_OWNERS = join(RUN_DIR, 'netns-owners');

export interface NetnsOwner {
  root: string;
  containerId: string;
  pid: number;
  startTime: string;
}

export async function readNetnsOwner(ns: string): Promise<NetnsOwner | undefined> {
  return readFile(join(NETNS_OWNERS, ns), 'utf8').then(
    (t) => JSON.parse(t) as NetnsOwner,
    () => undefined,
  );
}

export function netnsName(containerId: string): string {
  return `${NETNS_PREFIX}${containerId.slice(0, 16)}`;
}

/** What an endpoint got. */
export interface EndpointAddress {
  ip: string;
  prefixLen: number;
  gateway: string;
  mac: string;
}

export interface EndpointRequest {
  net: NetworkRecord;
  endpointId: string;
  aliases: string[];
  /** `--ip`. */
  ipv4Address?: string;
}

export interface ContainerRef {
  root: string;
  id: string;
  name: string;
  /** The process that holds the endpoints (the container's supervisor); a sweep frees them once it is gone. */
  pid: number;
}

async function ip(args: string[], input?: string): Promise<void> {
  const r = await tool('ip', args, { input });
  if (r.code !== 0) throw new KilnError('NETWORK_FAILED', `ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

/** The namespace of a running container (its user-network one, else kiln0's), if it has one. */
export async function containerNetns(containerId: string): Promise<string | undefined> {
  for (const name of [netnsName(containerId), `kiln-${containerId.slice(0, 16)}`]) {
    if (await exists(`/run/netns/${name}`)) return name;
  }
  return undefined;
}

/** The `ethN` names in a namespace. */
async function interfaces(ns: string): Promise<string[]> {
  const r = await tool('ip', ['-n', ns, '-o', 'link', 'show']);
  return [...r.stdout.matchAll(/^\d+:\s+(eth\d+)[:@]/gm)].map((m) => m[1]!);
}

async function hasDefaultRoute(ns: string): Promise<boolean> {
  const r = await tool('ip', ['-n', ns, '-4', 'route', 'show', 'default']);
  return r.stdout.trim() !== '';
}

/**
 * Adds one endpoint to namespace `ns` as the next free `ethN`: leases the address, makes the veth, sets the
 * default route when the namespace has none and the network leads out, and publishes the DNS record.
 */
export async function addEndpoint(ns: string, c: ContainerRef, req: EndpointRequest): Promise<EndpointAddress> {
  const net = req.net;
  const cfg = net.IPAM.Config[0];
  if (!cfg) throw new KilnError('NETWORK_FAILED', `network ${net.Name} has no subnet`);
  await ensureNetworkUp(c.root, net);
  const addr = await leaseAddress(cfg, { root: c.root, networkId: net.Id, containerId: c.id, pid: c.pid, want: req.ipv4Address });
  const prefixLen = parseCidr(cfg.Subnet, 'subnet').prefix;
  const used = new Set(await interfaces(ns));
  let n = 0;
  while (used.has(`eth${n}`)) n++;
  const ifname = `eth${n}`;
  const host = `kn${req.endpointId.slice(0, 13)}`;
  try {
    await ip(
      ['-batch', '-'],
      [`link add ${host} type veth peer name ${ifname} netns ${ns}`, `link set ${host} master ${bridgeName(net.Id)}`, `link set ${host} up`].join('\n') + '\n',
    );
    const inside = ['link set lo up', `addr add ${addr}/${prefixLen} dev ${ifname}`, `link set ${ifname} up`];
    if (!net.Internal && !(await hasDefaultRoute(ns))) inside.push(`route add default via ${cfg.Gateway}`);
    await ip(['-n', ns, '-batch', '-'], inside.join('\n') + '\n');
    const shown = await tool('ip', ['-n', ns, '-o', 'link', 'show', ifname]);
    const mac = /link\/ether ([0-9a-f:]{17})/.exec(shown.stdout)?.[1] ?? '';
    await writeDnsRecord(net.Id, c.id, { names: endpointNames(c.id, c.name, req.aliases), ipv4: addr });
    return { ip: addr, prefixLen, gateway: cfg.Gateway, mac };
  } catch (err) {
    await tool('ip', ['link', 'del', host]);
    await releaseAddress(net.Id, addr, c.id);
    throw err;
  }
}

/** Removes a container's endpoint at `addr` from `ns` (when given: a running container) and frees its lease and record. */
export async function removeEndpoint(ns: string | undefined, containerId: string, networkId: string, addr: string | undefined): Promise<void> {
  await removeDnsRecord(networkId, containerId);
  if (!addr) return;
  if (ns) {
    const r = await tool('ip', ['-n', ns, '-o', '-4', 'addr', 'show']);
    const ifname = r.stdout
      .split('\n')
      .find((l) => l.includes(` ${addr}/`))
      ?.split(/\s+/)[1];
    if (ifname) await tool('ip', ['-n', ns, 'link', 'del', ifname]);
  }
  await releaseAddress(networkId, addr, containerId);
}

export interface JoinedNetworks {
  /** The namespace for the executor. */
  nsPath: string;
  /** kiln0's address when the container is on the default bridge too. */
  bridgeIp?: string;
  /** Per request, in order. */
  endpoints: EndpointAddress[];
}

/**
 * Makes container `c`'s namespace with its endpoints: kiln0 first when `defaultBridge` (its namespace, eth0),
 * then one per request. On failure everything made is undone.
 */
export async function joinNetworks(c: ContainerRef, reqs: EndpointRequest[], o: { defaultBridge: boolean }): Promise<JoinedNetworks> {
  let ns: string;
  let bridgeIp: string | undefined;
  if (o.defaultBridge) {
    const att = await attachBridge({ root: c.root, id: c.id });
    bridgeIp = att.ip;
    ns = `kiln-${c.id.slice(0, 16)}`;
  } else {
    ns = netnsName(c.id);
    await mkdir(NETNS_OWNERS, { recursive: true });
    const owner: NetnsOwner = { root: c.root, containerId: c.id, pid: c.pid, startTime: (await processStartTime(c.pid)) ?? '' };
    await writeFile(join(NETNS_OWNERS, ns), JSON.stringify(owner));
    await tool('ip', ['netns', 'del', ns]); // a leftover of a crash
    await ip(['netns', 'add', ns]);
    await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
  }
  const endpoints: EndpointAddress[] = [];
  try {
    for (const r of reqs) endpoints.push(await addEndpoint(ns, c, r));
  } catch (err) {
    for (const [i, e] of endpoints.entries()) await removeEndpoint(undefined, c.id, reqs[i]!.net.Id, e.ip).catch(() => {});
    await leaveNamespace(c.root, c.id);
    throw err;
  }
  return { nsPath: `/run/netns/${ns}`, bridgeIp, endpoints };
}

/** Deletes a container's namespaces (its veths go with them) and its kiln0 lease. */
export async function leaveNamespace(root: string, containerId: string): Promise<void> {
  await tool('ip', ['netns', 'del', netnsName(containerId)]);
  await unlink(join(NETNS_OWNERS, netnsName(containerId))).catch(() => {});
  await releaseStaleNetwork(root, containerId);
}

/** The knet- namespaces on the host (for the sweep). */
export async function listContainerNamespaces(): Promise<string[]> {
  return (await readdir('/run/netns').catch(() => [] as string[])).filter((n) => /^knet-[0-9a-f]{16}$/.test(n));
}
