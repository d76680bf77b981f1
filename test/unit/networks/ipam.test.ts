/** CIDR arithmetic and subnet choice for user-defined networks (no root: the pure parts of networks/ipam.ts). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { contains, formatCidr, formatIp, lastIp, overlaps, parseCidr, parseIp, split, within } from '../../../src/networks/cidr.js';
import { defaultAddressPool, parseAddressPool, pickSubnet } from '../../../src/networks/ipam.js';
import { throwsCode } from '../../helpers/assert.js';

test('addresses and blocks parse and print back', () => {
  assert.is(parseIp('10.90.3.4'), 0x0a5a0304);
  assert.is(formatIp(0xac1f0501), '172.31.5.1');
  assert.is(parseIp('10.256.0.1'), undefined);
  assert.is(parseIp('10.1.2'), undefined);
  const c = parseCidr('172.31.5.0/24', 'subnet');
  assert.is(formatCidr(c), '172.31.5.0/24');
  assert.is(formatIp(lastIp(c)), '172.31.5.255');
  assert.ok(contains(c, parseIp('172.31.5.200')!));
  assert.not.ok(contains(c, parseIp('172.31.6.1')!));
});

test('a subnet with host bits set, a bad CIDR and IPv6 are refused with the option named', () => {
  throwsCode(() => parseCidr('10.1.2.3/24', '--subnet'), 'INVALID_ARGUMENT', /it should be 10\.1\.2\.0\/24/);
  throwsCode(() => parseCidr('10.1.2.0/33', '--subnet'), 'INVALID_ARGUMENT', /--subnet/);
  throwsCode(() => parseCidr('nonsense', '--ip-range'), 'INVALID_ARGUMENT', /--ip-range/);
  throwsCode(() => parseCidr('fd00::/64', '--subnet'), 'NOT_IMPLEMENTED', /IPv6/);
});

test('overlap and nesting either way', () => {
  const a = parseCidr('10.90.0.0/16', 's');
  const b = parseCidr('10.90.4.0/24', 's');
  const c = parseCidr('10.91.0.0/24', 's');
  assert.ok(overlaps(a, b));
  assert.ok(overlaps(b, a));
  assert.not.ok(overlaps(a, c));
  assert.ok(within(a, b));
  assert.not.ok(within(b, a));
});

test('a pool splits into blocks of its size, in order', () => {
  const blocks = [...split(parseCidr('10.90.0.0/22', 'p'), 24)].map(formatCidr);
  assert.equal(blocks, ['10.90.0.0/24', '10.90.1.0/24', '10.90.2.0/24', '10.90.3.0/24']);
  throwsCode(() => [...split(parseCidr('10.90.0.0/24', 'p'), 16)], 'INVALID_ARGUMENT');
});

test('the first free block skips host routes and other networks, of any size', () => {
  const pool = parseAddressPool('base=10.90.0.0/16,size=24');
  assert.is(formatCidr(pickSubnet(pool, [])!), '10.90.0.0/24');
  const taken = [parseCidr('10.90.0.0/24', 't'), parseCidr('10.90.1.128/25', 't'), parseCidr('10.90.2.0/23', 't')];
  assert.is(formatCidr(pickSubnet(pool, taken)!), '10.90.4.0/24');
  // A host route that covers the whole pool leaves nothing.
  assert.is(pickSubnet(pool, [parseCidr('10.0.0.0/8', 'route')]), undefined);
});

test('--default-address-pool parses base=CIDR,size=N and refuses the rest', () => {
  const p = parseAddressPool('base=172.30.0.0/16,size=26');
  assert.is(formatCidr(p.base), '172.30.0.0/16');
  assert.is(p.size, 26);
  throwsCode(() => parseAddressPool('base=172.30.0.0/16'), 'INVALID_ARGUMENT', /base=CIDR,size=N/);
  throwsCode(() => parseAddressPool('base=172.30.0.0/16,size=8'), 'INVALID_ARGUMENT', /size/);
  throwsCode(() => parseAddressPool('base=172.30.0.0/16,size=24,x=1'), 'INVALID_ARGUMENT');
  assert.is(formatCidr(defaultAddressPool({}).base), '10.90.0.0/16');
  assert.is(defaultAddressPool({ KILN_DEFAULT_ADDRESS_POOL: 'base=10.200.0.0/16,size=28' }).size, 28);
});

test.run();
