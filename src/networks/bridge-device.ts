/**
 * A user-defined network's host side: a Linux bridge `kbr-<11 hex of the id>` holding the gateway address, and
 * its iptables rules, all in kiln's own chains so they are easy to find and remove:
 *   filter FORWARD → KILN-ISOLATION-STAGE-1 (first), then KILN-NETWORKS.
 *   KILN-ISOLATION-STAGE-1: `-i kbrX ! -o kbrX -j KILN-ISOLATION-STAGE-2` per network, `-i kiln0 -o kbr+ -j DROP`;
 *   KILN-ISOLATION-STAGE-2: `-o kbr+ -j DROP`, `-o kiln0 -j DROP`: traffic from one kiln bridge to another is
 *   dropped, as dockerd's DOCKER-ISOLATION-STAGE chains do.
 *   KILN-NETWORKS: accept within the bridge; out of it and back for ordinary networks; drop both ways for
 *   `internal` ones (which also get no MASQUERADE and their containers no default route).
 *   nat POSTROUTING: `-s SUBNET ! -o kbrX -j MASQUERADE` for ordinary networks.
 * Every step checks before it adds (`-C`), so concurrent kiln processes and repeated calls are harmless.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { KilnError } from '../errors.js';
import { tool } from '../sandbox/tool.js';
import { parseCidr } from './cidr.js';

export const ISOLATION_1 = 'KILN-ISOLATION-STAGE-1';
export const ISOLATION_2 = 'KILN-ISOLATION-STAGE-2';
export const NETWORKS_CHAIN = 'KILN-NETWORKS';

export interface BridgeSpec {
  bridge: string;
  subnet: string;
  gateway: string;
  internal: boolean;
}

/** The bridge of network `id` (≤ 15 characters, Linux's limit). */
export function bridgeName(networkId: string): string {
  return `kbr-${networkId.slice(0, 11)}`;
}

async function run(cmd: string, args: string[], okIf?: RegExp): Promise<void> {
  const r = await tool(cmd, args);
  if (r.code !== 0 && !(okIf && okIf.test(r.stderr))) throw new KilnError('NETWORK_FAILED', `${cmd} ${args.join(' ')}: ${r.stderr.trim()}`);
}

const ipt = (args: string[]) => tool('iptables', ['-w', ...args]);

/** Adds `rule` to `chain` of `table` unless present (`-A`, or `-I` when `insert`). */
async function ensureRule(table: string, chain: string, rule: string[], insert = false): Promise<void> {
  if ((await ipt(['-t', table, '-C', chain, ...rule])).code === 0) return;
  const r = await ipt(['-t', table, insert ? '-I' : '-A', chain, ...rule]);
  if (r.code !== 0) throw new KilnError('NETWORK_FAILED', `iptables -t ${table} ${chain} ${rule.join(' ')}: ${r.stderr.trim()}`);
}

/** Deletes every copy of `rule`; absent is fine. */
async function deleteRule(table: string, chain: string, rule: string[]): Promise<void> {
  for (let i = 0; i < 8 && (await ipt(['-t', table, '-D', chain, ...rule])).code === 0; i++);
}

async function ensureChain(table: string, chain: string): Promise<void> {
  const r = await ipt(['-t', table, '-N', chain]);
  if (r.code !== 0 && !/exists/i.test(r.stderr)) throw new KilnError('NETWORK_FAILED', `iptables -N ${chain}: ${r.stderr.trim()}`);
}

/**
 * kiln's chains and FORWARD's jumps into them, the isolation jump first: kiln0's own ACCEPT rules are inserted at
 * the top of FORWARD (sandbox/bridge.ts) and must not come before it, so a jump found lower is moved up.
 */
async function ensureChains(): Promise<void> {
  await ensureChain('filter', ISOLATION_1);
  await ensureChain('filter', ISOLATION_2);
  await ensureChain('filter', NETWORKS_CHAIN);
  await ensureRule('filter', ISOLATION_1, ['-i', 'kiln0', '-o', 'kbr+', '-j', 'DROP']);
  await ensureRule('filter', ISOLATION_2, ['-o', 'kbr+', '-j', 'DROP']);
  await ensureRule('filter', ISOLATION_2, ['-o', 'kiln0', '-j', 'DROP']);
  const rules = (await ipt(['-S', 'FORWARD'])).stdout.split('\n').filter((l) => l.startsWith('-A FORWARD'));
  const want = [`-A FORWARD -j ${ISOLATION_1}`, `-A FORWARD -j ${NETWORKS_CHAIN}`];
  if (rules[0] !== want[0] || rules[1] !== want[1]) {
    await deleteRule('filter', 'FORWARD', ['-j', NETWORKS_CHAIN]);
    await deleteRule('filter', 'FORWARD', ['-j', ISOLATION_1]);
    await run('iptables', ['-w', '-I', 'FORWARD', '1', '-j', NETWORKS_CHAIN]);
    await run('iptables', ['-w', '-I', 'FORWARD', '1', '-j', ISOLATION_1]);
  }
}

function rulesOf(s: BridgeSpec): Array<{ table: string; chain: string; rule: string[] }> {
  const b = s.bridge;
  const rules = [
    { table: 'filter', chain: ISOLATION_1, rule: ['-i', b, '!', '-o', b, '-j', ISOLATION_2] },
    { table: 'filter', chain: NETWORKS_CHAIN, rule: ['-i', b, '-o', b, '-j', 'ACCEPT'] },
  ];
  if (s.internal) {
    rules.push(
      { table: 'filter', chain: NETWORKS_CHAIN, rule: ['-i', b, '!', '-o', b, '-j', 'DROP'] },
      { table: 'filter', chain: NETWORKS_CHAIN, rule: ['!', '-i', b, '-o', b, '-j', 'DROP'] },
    );
  } else {
    rules.push(
      { table: 'filter', chain: NETWORKS_CHAIN, rule: ['-i', b, '!', '-o', b, '-j', 'ACCEPT'] },
      { table: 'filter', chain: NETWORKS_CHAIN, rule: ['-o', b, '-j', 'ACCEPT'] },
      { table: 'nat', chain: 'POSTROUTING', rule: ['-s', s.subnet, '!', '-o', b, '-j', 'MASQUERADE'] },
    );
  }
  return rules;
}

/** Creates the bridge with its gateway address, and its rules; idempotent. */
export async function ensureBridgeDevice(s: BridgeSpec): Promise<void> {
  const prefix = parseCidr(s.subnet, 'subnet').prefix;
  const addr = `${s.gateway}/${prefix}`;
  const shown = await tool('ip', ['-o', '-4', 'addr', 'show', 'dev', s.bridge]);
  if (shown.code !== 0 || !shown.stdout.includes(` ${addr} `)) {
    await run('ip', ['link', 'add', s.bridge, 'type', 'bridge'], /exists/i);
    await run('ip', ['addr', 'add', addr, 'dev', s.bridge], /exists|already assigned/i);
  }
  await run('ip', ['link', 'set', s.bridge, 'up']);
  if ((await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8').catch(() => '')).trim() !== '1') {
    await writeFile('/proc/sys/net/ipv4/ip_forward', '1').catch(() => {});
  }
  await ensureChains();
  for (const r of rulesOf(s)) await ensureRule(r.table, r.chain, r.rule);
}

/** Removes the bridge and every rule of it; absent parts are fine. */
export async function removeBridgeDevice(s: BridgeSpec): Promise<void> {
  for (const r of rulesOf(s)) await deleteRule(r.table, r.chain, r.rule);
  // Rules of the other kind, in case the lease's `internal` was wrong.
  for (const r of rulesOf({ ...s, internal: !s.internal })) await deleteRule(r.table, r.chain, r.rule);
  await tool('ip', ['link', 'del', s.bridge]);
}

/** The kbr- bridges on the host. */
export async function listBridgeDevices(): Promise<string[]> {
  const r = await tool('ip', ['-o', 'link', 'show', 'type', 'bridge']);
  return [...r.stdout.matchAll(/^\d+:\s+(kbr-[0-9a-f]{11})[:@]/gm)].map((m) => m[1]!);
}
