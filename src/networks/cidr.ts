/**
 * IPv4 addresses and CIDR blocks as numbers: parsing with clear errors, containment and overlap. Pure functions
 * (IPAM and the unit tests build on them); IPv6 is refused where it would be asked for (EnableIPv6).
 */
import { KilnError } from '../errors.js';

export interface Cidr {
  /** The network address (host bits cleared), as an unsigned 32-bit number. */
  base: number;
  prefix: number;
}

/** Parses a dotted quad; undefined when it is not one. */
export function parseIp(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s.trim());
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

export function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/**
 * Parses `a.b.c.d/len`. `what` names the option in the error (`--subnet`). Host bits set (`10.1.2.3/24`) are
 * refused as dockerd refuses them for a subnet ("invalid subnet … it should be 10.1.2.0/24").
 */
export function parseCidr(s: string, what: string): Cidr {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(s.trim());
  const ip = m ? parseIp(m[1]!) : undefined;
  const prefix = m ? Number(m[2]) : NaN;
  if (ip === undefined || !(prefix >= 0 && prefix <= 32)) {
    if (s.includes(':')) throw new KilnError('NOT_IMPLEMENTED', `${what} ${s}: IPv6 networks are not supported by kiln`);
    throw new KilnError('INVALID_ARGUMENT', `invalid ${what} ${JSON.stringify(s)}: expected an IPv4 CIDR such as 172.30.0.0/24`);
  }
  const base = (ip & mask(prefix)) >>> 0;
  if (base !== ip) throw new KilnError('INVALID_ARGUMENT', `invalid ${what} ${s}: it should be ${formatCidr({ base, prefix })}`);
  return { base, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.base)}/${c.prefix}`;
}

/** The last address of the block. */
export function lastIp(c: Cidr): number {
  return (c.base + 2 ** (32 - c.prefix) - 1) >>> 0;
}

export function contains(c: Cidr, ip: number): boolean {
  return (ip & mask(c.prefix)) >>> 0 === c.base;
}

/** True when one block contains the other (CIDR blocks either nest or are disjoint). */
export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.prefix <= b.prefix ? contains(a, b.base) : contains(b, a.base);
}

/** `b` inside `a`. */
export function within(outer: Cidr, inner: Cidr): boolean {
  return outer.prefix <= inner.prefix && contains(outer, inner.base);
}

/** The blocks of size `/size` that `pool` splits into, in order. Throws when size is smaller than the pool's prefix. */
export function* split(pool: Cidr, size: number): Generator<Cidr> {
  if (size < pool.prefix || size > 30) throw new KilnError('INVALID_ARGUMENT', `a pool of ${formatCidr(pool)} cannot be split into /${size} subnets`);
  const step = 2 ** (32 - size);
  for (let b = pool.base; b <= lastIp(pool); b += step) yield { base: b >>> 0, prefix: size };
}
