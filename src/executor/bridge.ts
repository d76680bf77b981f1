/**
 * The default `bridge` network: a Linux bridge `kiln0` (10.89.0.1/16; podman/netavark take 10.88/16), one veth
 * pair a container (host end `kv<12 hex>` on the bridge, `eth0` in the container's namespace), and MASQUERADE
 * for traffic leaving the subnet. Address leases are files under /run/kiln (tmpfs: gone with the namespaces at
 * reboot), shared by every state root since the bridge is host-wide. `ip -batch` keeps setup to two processes.
 */
import { mkdir, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors.js';
import type { NetworkAttachment, NetworkContext } from './network.js';
import { tool } from './tool.js';

export const BRIDGE = 'kiln0';
const SUBNET = '10.89.0.0/16';
const GATEWAY = '10.89.0.1';
const PREFIX = 16;
const LEASES = '/run/kiln/leases';

interface Lease { root: string; id: string }

function netnsName(id: string): string {
  return `kiln-${id.slice(0, 16)}`;
}
function vethName(id: string): string {
  return `kv${id.slice(0, 12)}`;
}

function ipOf(n: number): string {
  return `10.89.${(n >> 8) & 255}.${n & 255}`;
}

async function ip(args: string[], input?: string): Promise<void> {
  const r = await tool('ip', args, { input });
  if (r.code !== 0) throw new KilnError('NETWORK_FAILED', `ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

let bridgeReady: Promise<void> | undefined;

/** Creates kiln0, its address, forwarding and NAT once per host; idempotent and safe to race. */
function ensureBridge(): Promise<void> {
  bridgeReady ??= (async () => {
    const exists = (await tool('ip', ['link', 'show', BRIDGE])).code === 0;
    if (!exists) {
      const r = await tool('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
      if (r.code !== 0 && !/exists/i.test(r.stderr)) throw new KilnError('NETWORK_FAILED', `creating bridge ${BRIDGE}: ${r.stderr.trim()}`);
    }
    const a = await tool('ip', ['addr', 'add', `${GATEWAY}/${PREFIX}`, 'dev', BRIDGE]);
    if (a.code !== 0 && !/exists|already assigned/i.test(a.stderr)) throw new KilnError('NETWORK_FAILED', `addressing ${BRIDGE}: ${a.stderr.trim()}`);
    await ip(['link', 'set', BRIDGE, 'up']);
    await writeFile('/proc/sys/net/ipv4/ip_forward', '1').catch(() => {});
    const rules: string[][] = [
      ['-t', 'nat', 'POSTROUTING', '-s', SUBNET, '!', '-o', BRIDGE, '-j', 'MASQUERADE'],
      ['-t', 'filter', 'FORWARD', '-i', BRIDGE, '-j', 'ACCEPT'],
      ['-t', 'filter', 'FORWARD', '-o', BRIDGE, '-j', 'ACCEPT'],
    ];
    for (const [t, table, chain, ...rule] of rules) {
      const check = await tool('iptables', ['-w', t!, table!, '-C', chain!, ...rule]);
      if (check.code !== 0) {
        const add = await tool('iptables', ['-w', t!, table!, '-I', chain!, ...rule]);
        if (add.code !== 0) throw new KilnError('NETWORK_FAILED', `iptables ${chain} ${rule.join(' ')}: ${add.stderr.trim()}`);
      }
    }
  })().catch((err) => { bridgeReady = undefined; throw err; });
  return bridgeReady;
}

/** Takes the first free address (files created with O_EXCL, so concurrent kilns never share one). */
async function lease(root: string, id: string): Promise<string> {
  await mkdir(LEASES, { recursive: true });
  for (let n = 2; n < 65534; n++) {
    if ((n & 255) === 0 || (n & 255) === 255) continue;
    const addr = ipOf(n);
    try {
      await writeFile(join(LEASES, addr), JSON.stringify({ root, id } satisfies Lease), { flag: 'wx' });
      return addr;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  throw new KilnError('NETWORK_FAILED', `no free address left in ${SUBNET}`);
}

/** Creates a namespace with a veth on kiln0 and an address for container `id`. */
export async function attachBridge(ctx: NetworkContext): Promise<NetworkAttachment> {
  await ensureBridge();
  const addr = await lease(ctx.root, ctx.id);
  const ns = netnsName(ctx.id);
  const veth = vethName(ctx.id);
  const release = () => releaseStaleNetwork(ctx.root, ctx.id);
  try {
    await ip(['-batch', '-'], [
      `netns add ${ns}`,
      `link add ${veth} type veth peer name eth0 netns ${ns}`,
      `link set ${veth} master ${BRIDGE}`,
      `link set ${veth} up`,
    ].join('\n') + '\n');
    await ip(['-n', ns, '-batch', '-'], [
      'link set lo up',
      `addr add ${addr}/${PREFIX} dev eth0`,
      'link set eth0 up',
      `route add default via ${GATEWAY}`,
    ].join('\n') + '\n');
  } catch (err) {
    await release().catch(() => {});
    throw err;
  }
  return { ns: { path: `/run/netns/${ns}` }, ip: addr, release };
}

/** Removes container `id`'s namespace (its veth goes with it) and its address lease. Safe when absent. */
export async function releaseStaleNetwork(root: string, id: string): Promise<void> {
  await tool('ip', ['netns', 'del', netnsName(id)]);
  for (const name of await readdir(LEASES).catch(() => [] as string[])) {
    const l = await readFile(join(LEASES, name), 'utf8').then((t) => JSON.parse(t) as Lease, () => undefined);
    if (l && l.root === root && l.id === id) await unlink(join(LEASES, name)).catch(() => {});
  }
}

/**
 * Releases every lease of `root` whose container is not live, and of roots that no longer exist (a deleted test
 * root, say: nothing can own those), then namespaces named like kiln's that no lease accounts for (a lease is
 * always taken before its namespace is made).
 */
export async function sweepNetwork(root: string, isLive: (id: string) => Promise<boolean>): Promise<void> {
  const leased = new Set<string>();
  for (const name of await readdir(LEASES).catch(() => [] as string[])) {
    const l = await readFile(join(LEASES, name), 'utf8').then((t) => JSON.parse(t) as Lease, () => undefined);
    if (!l) continue;
    const gone = l.root === root ? !(await isLive(l.id)) : !(await stat(l.root).then(() => true, () => false));
    if (gone) await releaseStaleNetwork(l.root, l.id);
    else leased.add(netnsName(l.id));
  }
  for (const ns of await readdir('/run/netns').catch(() => [] as string[])) {
    if (/^kiln-[0-9a-f]{16}$/.test(ns) && !leased.has(ns)) await tool('ip', ['netns', 'del', ns]);
  }
}
