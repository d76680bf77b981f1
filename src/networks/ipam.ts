/**
 * Address management for user-defined networks. Subnets are host-wide (a Linux bridge and its routes belong to
 * the host, and several state roots share it): each is a lease file under /run/kiln/subnets created with O_EXCL
 * and checked against every other lease after creation, so two kiln processes never take overlapping subnets.
 * Container addresses are leases under /run/kiln/ipam/<network id>/<ip>, as sandbox/bridge.ts does for kiln0;
 * each names the process that holds the endpoint, so a sweep frees the leases of a crashed one.
 * /run is tmpfs: leases go with the bridges at reboot.
 */
import { mkdir, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors.js';
import { processStartTime } from '../sandbox/owner.js';
import { tool } from '../sandbox/tool.js';
import { contains, formatCidr, formatIp, lastIp, overlaps, parseCidr, parseIp, split, within, type Cidr } from './cidr.js';
import { DEFAULT_BRIDGE } from './store.js';
import type { IpamConfig } from './types.js';

export const RUN_DIR = '/run/kiln';
const SUBNETS = join(RUN_DIR, 'subnets');
const ADDRESSES = join(RUN_DIR, 'ipam');

/** A subnet lease: enough to tear a network's host state down after its record is gone. */
export interface SubnetLease {
  root: string;
  networkId: string;
  subnet: string;
  gateway: string;
  bridge: string;
  internal: boolean;
}

export interface AddressPool {
  base: Cidr;
  size: number;
}

/** `base=CIDR,size=N` (dockerd's --default-address-pool); the error names `flag`. */
export function parseAddressPool(s: string, flag = '--default-address-pool'): AddressPool {
  const kv = new Map(s.split(',').map((p) => [p.slice(0, p.indexOf('=')).trim(), p.slice(p.indexOf('=') + 1).trim()] as const));
  const base = kv.get('base');
  const size = Number(kv.get('size'));
  if (!base || !kv.has('size') || [...kv.keys()].some((k) => k !== 'base' && k !== 'size')) {
    throw new KilnError('INVALID_ARGUMENT', `invalid ${flag} ${JSON.stringify(s)}: expected base=CIDR,size=N`);
  }
  const cidr = parseCidr(base, `${flag} base`);
  if (!Number.isInteger(size) || size < cidr.prefix || size > 30) {
    throw new KilnError('INVALID_ARGUMENT', `invalid ${flag} size ${kv.get('size')}: between ${cidr.prefix} and 30`);
  }
  return { base: cidr, size };
}

/** The pool networks take subnets from: KILN_DEFAULT_ADDRESS_POOL (set by `kiln serve --default-address-pool`), else 10.90.0.0/16 in /24s. */
export function defaultAddressPool(env: NodeJS.ProcessEnv = process.env): AddressPool {
  const v = env.KILN_DEFAULT_ADDRESS_POOL;
  return v ? parseAddressPool(v, 'KILN_DEFAULT_ADDRESS_POOL') : { base: parseCidr('10.90.0.0/16', 'pool'), size: 24 };
}

/** The first block of the pool that overlaps none of `taken` (host routes, other networks). */
export function pickSubnet(pool: AddressPool, taken: Cidr[]): Cidr | undefined {
  for (const c of split(pool.base, pool.size)) if (!taken.some((t) => overlaps(t, c))) return c;
  return undefined;
}

function leaseName(c: Cidr): string {
  return `${formatIp(c.base)}_${c.prefix}`;
}

export async function readSubnetLeases(): Promise<Array<SubnetLease & { file: string }>> {
  const out: Array<SubnetLease & { file: string }> = [];
  for (const name of await readdir(SUBNETS).catch(() => [] as string[])) {
    if (name.endsWith('.tmp')) continue;
    const file = join(SUBNETS, name);
    const l = await readFile(file, 'utf8').then(
      (t) => JSON.parse(t) as SubnetLease,
      () => undefined,
    );
    if (l?.subnet) out.push({ ...l, file });
  }
  return out;
}

/** The IPv4 routes of the host's main table (`ip -4 route`), except the default route and kiln's own bridges. */
export async function hostRoutes(): Promise<Cidr[]> {
  const r = await tool('ip', ['-4', 'route', 'show', 'table', 'main']);
  const out: Cidr[] = [];
  for (const line of r.stdout.split('\n')) {
    const [dest, ...rest] = line.trim().split(/\s+/);
    if (!dest || dest === 'default' || /\bdev kbr-/.test(` ${rest.join(' ')}`)) continue;
    try {
      out.push(dest.includes('/') ? parseCidr(dest, 'route') : { base: parseIp(dest) ?? 0, prefix: 32 });
    } catch {
      /* a route kiln cannot parse cannot collide with an IPv4 block it could give */
    }
  }
  return out;
}

/** Takes the lease, then makes sure no other lease overlaps it (else gives it back and says which). */
async function claim(c: Cidr, lease: Omit<SubnetLease, 'subnet'>): Promise<string | undefined> {
  await mkdir(SUBNETS, { recursive: true });
  const file = join(SUBNETS, leaseName(c));
  try {
    await writeFile(file, JSON.stringify({ ...lease, subnet: formatCidr(c) }), { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return formatCidr(c);
    throw err;
  }
  const clash = (await readSubnetLeases()).find((l) => l.file !== file && overlaps(parseCidr(l.subnet, 'lease'), c));
  if (clash) {
    await unlink(file).catch(() => {});
    return clash.subnet;
  }
  return undefined;
}

export interface SubnetRequest {
  subnet?: string;
  gateway?: string;
  ipRange?: string;
}

/**
 * Gives network `networkId` a subnet: the one asked for (checked: a valid block, gateway and range inside it, no
 * overlap with kiln0 or another kiln network on this host), else the first block of the pool that overlaps
 * neither a host route nor another kiln network. Returns the IPAM config to store; the lease is held.
 */
export async function allocateSubnet(
  req: SubnetRequest,
  lease: { root: string; networkId: string; bridge: string; internal: boolean },
  pool: AddressPool = defaultAddressPool(),
): Promise<IpamConfig> {
  const kiln0 = parseCidr(DEFAULT_BRIDGE.subnet, 'subnet');
  if (req.subnet) {
    const subnet = parseCidr(req.subnet, 'subnet');
    if (subnet.prefix > 30) throw new KilnError('INVALID_ARGUMENT', `subnet ${req.subnet} is too small: at most /30`);
    const gw = req.gateway ? checkedIp(req.gateway, 'gateway', subnet) : formatIp(subnet.base + 1);
    let range: Cidr | undefined;
    if (req.ipRange) {
      range = parseCidr(req.ipRange, 'ip-range');
      if (!within(subnet, range)) throw new KilnError('INVALID_ARGUMENT', `ip-range ${req.ipRange} is not inside subnet ${req.subnet}`);
    }
    if (overlaps(subnet, kiln0)) throw overlapError(req.subnet, `kiln's default bridge (${DEFAULT_BRIDGE.subnet})`);
    const clash = await claim(subnet, { ...lease, gateway: gw });
    if (clash) throw overlapError(req.subnet, `another kiln network (${clash})`);
    return { Subnet: formatCidr(subnet), Gateway: gw, ...(range ? { IPRange: formatCidr(range) } : {}) };
  }
  if (req.gateway || req.ipRange) throw new KilnError('INVALID_ARGUMENT', `${req.gateway ? '--gateway' : '--ip-range'} needs --subnet`);
  const taken = [...(await hostRoutes()), kiln0, ...(await readSubnetLeases()).map((l) => parseCidr(l.subnet, 'lease'))];
  for (let c = pickSubnet(pool, taken); c; c = pickSubnet(pool, taken)) {
    const gw = formatIp(c.base + 1);
    if (!(await claim(c, { ...lease, gateway: gw }))) return { Subnet: formatCidr(c), Gateway: gw };
    taken.push(c); // taken meanwhile by another kiln: try the next one
  }
  throw new KilnError('NETWORK_FAILED', `could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network`, {
    hint: `every /${pool.size} of ${formatCidr(pool.base)} is taken or routed; give --subnet, or kiln serve --default-address-pool base=CIDR,size=N`,
  });
}

function overlapError(subnet: string, what: string): KilnError {
  return new KilnError('NETWORK_OVERLAP', `invalid pool request: Pool overlaps with other one on this address space: ${subnet} overlaps ${what}`);
}

function checkedIp(s: string, what: string, subnet: Cidr): string {
  const ip = parseIp(s);
  if (ip === undefined) throw new KilnError('INVALID_ARGUMENT', `invalid ${what} address ${JSON.stringify(s)}`);
  if (!contains(subnet, ip) || ip === subnet.base || ip === lastIp(subnet)) {
    throw new KilnError('INVALID_ARGUMENT', `${what} ${s} is not a host address of subnet ${formatCidr(subnet)}`);
  }
  return s;
}

/**
 * Takes a stored network's subnet lease again when it is missing (/run is emptied at reboot, records are not), so
 * no other network is given the subnet meanwhile; NETWORK_OVERLAP when another network holds it now.
 */
export async function reclaimSubnet(lease: SubnetLease): Promise<void> {
  const file = join(SUBNETS, leaseName(parseCidr(lease.subnet, 'subnet')));
  const held = await readFile(file, 'utf8').then(
    (t) => JSON.parse(t) as SubnetLease,
    () => undefined,
  );
  if (held?.networkId === lease.networkId) return;
  const clash = held ? held.subnet : await claim(parseCidr(lease.subnet, 'subnet'), lease);
  if (clash) throw overlapError(lease.subnet, `another kiln network (${clash}) taken while this one's lease was gone`);
}

/** Gives a network's subnet back (its address leases go with it). */
export async function releaseSubnet(subnet: string, networkId: string): Promise<void> {
  const file = join(SUBNETS, leaseName(parseCidr(subnet, 'subnet')));
  const l = await readFile(file, 'utf8').then(
    (t) => JSON.parse(t) as SubnetLease,
    () => undefined,
  );
  if (l?.networkId === networkId) await unlink(file).catch(() => {});
  await rm(join(ADDRESSES, networkId), { recursive: true, force: true });
}

/** An address lease: which container holds it, and the process that holds the endpoint (gone: a crash). */
export interface AddressLease {
  root: string;
  networkId: string;
  containerId: string;
  pid: number;
  startTime: string;
}

/**
 * Leases an address on a network for a container: `want` (`--ip`, checked inside the subnet and free) or the
 * first free one of the ip-range (else the subnet), skipping the gateway.
 */
export async function leaseAddress(cfg: IpamConfig, o: { root: string; networkId: string; containerId: string; pid: number; want?: string }): Promise<string> {
  const subnet = parseCidr(cfg.Subnet, 'subnet');
  const dir = join(ADDRESSES, o.networkId);
  await mkdir(dir, { recursive: true });
  const record: AddressLease = {
    root: o.root,
    networkId: o.networkId,
    containerId: o.containerId,
    pid: o.pid,
    startTime: (await processStartTime(o.pid)) ?? '',
  };
  const take = async (ip: string) => {
    try {
      await writeFile(join(dir, ip), JSON.stringify(record), { flag: 'wx' });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      return false;
    }
  };
  if (o.want) {
    const ip = checkedIp(o.want, '--ip', subnet);
    if (ip === cfg.Gateway) throw new KilnError('NETWORK_OVERLAP', `address ${ip} is the gateway of the network`);
    if (!(await take(ip))) throw new KilnError('NETWORK_OVERLAP', `Address already in use: ${ip}`);
    return ip;
  }
  const range = cfg.IPRange ? parseCidr(cfg.IPRange, 'ip-range') : subnet;
  for (let n = range.base; n <= lastIp(range); n++) {
    if (n === subnet.base || n === lastIp(subnet)) continue;
    const ip = formatIp(n);
    if (ip !== cfg.Gateway && (await take(ip))) return ip;
  }
  throw new KilnError('NETWORK_FAILED', `no available IPv4 addresses on this network's address pools: ${cfg.IPRange ?? cfg.Subnet}`);
}

export async function releaseAddress(networkId: string, ip: string, containerId: string): Promise<void> {
  const file = join(ADDRESSES, networkId, ip);
  const l = await readFile(file, 'utf8').then(
    (t) => JSON.parse(t) as AddressLease,
    () => undefined,
  );
  if (l?.containerId === containerId) await unlink(file).catch(() => {});
}

/** Every address lease on the host, with where it is. */
export async function readAddressLeases(): Promise<Array<AddressLease & { ip: string }>> {
  const out: Array<AddressLease & { ip: string }> = [];
  for (const net of await readdir(ADDRESSES).catch(() => [] as string[])) {
    for (const ip of await readdir(join(ADDRESSES, net)).catch(() => [] as string[])) {
      const l = await readFile(join(ADDRESSES, net, ip), 'utf8').then(
        (t) => JSON.parse(t) as AddressLease,
        () => undefined,
      );
      if (l) out.push({ ...l, ip });
    }
  }
  return out;
}

export const ADDRESS_DIR = ADDRESSES;
