/**
 * The default `bridge` network: a Linux bridge `kiln0` (10.89.0.1/16; podman/netavark take 10.88/16), one veth
 * pair a container (host end `kv<12 hex>` on the bridge, `eth0` in the container's namespace), and MASQUERADE
 * for traffic leaving the subnet. Address leases are files under /run/kiln (tmpfs: gone with the namespaces at
 * reboot), shared by every state root since the bridge is host-wide. `ip -batch` keeps setup to two processes.
 *
 * RUN steps (`default` mode) take their namespace from a small per-process pool (attachPooled): a namespace whose
 * step ended cleanly without extra capabilities goes back to the pool and serves the next step, so a build pays
 * the set-up once per parallel step, not once per RUN. Such a step cannot change its namespace (no CAP_NET_ADMIN,
 * /proc/sys read-only) and its processes, sockets and listeners die with its pid namespace; a step with added
 * capabilities (`--security=insecure`) or one that did not end cleanly has its namespace deleted instead. Pooled
 * leases record the owning process, so other kiln processes' sweeps leave them alone while it lives and free
 * them once it is gone; the pool is deleted when the process exits.
 */
import { execFileSync } from 'node:child_process';
import { unlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors.js';
import type { NetworkAttachment, NetworkContext } from './network.js';
import { processStartTime } from './owner.js';
import { tool } from './tool.js';

export const BRIDGE = 'kiln0';
const SUBNET = '10.89.0.0/16';
const GATEWAY = '10.89.0.1';
const PREFIX = 16;
const LEASES = '/run/kiln/leases';

/** A lease file's content; `pid`/`startTime` name the owning process of a pooled namespace. */
interface Lease {
  root: string;
  id: string;
  pid?: number;
  startTime?: string;
}

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

const NAT_RULES: string[][] = [
  ['-t', 'nat', 'POSTROUTING', '-s', SUBNET, '!', '-o', BRIDGE, '-j', 'MASQUERADE'],
  ['-t', 'filter', 'FORWARD', '-i', BRIDGE, '-j', 'ACCEPT'],
  ['-t', 'filter', 'FORWARD', '-o', BRIDGE, '-j', 'ACCEPT'],
];

/**
 * Creates kiln0, its address, forwarding and NAT once per process; idempotent and safe to race. Every build
 * process passes here before its first RUN, so the common case (all in place) is one `ip` and the rule checks
 * at once.
 */
export function ensureBridge(): Promise<void> {
  bridgeReady ??= (async () => {
    const [link, forward] = await Promise.all([
      tool('ip', ['-o', '-4', 'addr', 'show', 'dev', BRIDGE, 'up']),
      readFile('/proc/sys/net/ipv4/ip_forward', 'utf8').catch(() => ''),
    ]);
    if (link.code !== 0 || !link.stdout.includes(` ${GATEWAY}/${PREFIX} `)) {
      const exists = (await tool('ip', ['link', 'show', BRIDGE])).code === 0;
      if (!exists) {
        const r = await tool('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
        if (r.code !== 0 && !/exists/i.test(r.stderr)) throw new KilnError('NETWORK_FAILED', `creating bridge ${BRIDGE}: ${r.stderr.trim()}`);
      }
      const a = await tool('ip', ['addr', 'add', `${GATEWAY}/${PREFIX}`, 'dev', BRIDGE]);
      if (a.code !== 0 && !/exists|already assigned/i.test(a.stderr)) throw new KilnError('NETWORK_FAILED', `addressing ${BRIDGE}: ${a.stderr.trim()}`);
      await ip(['link', 'set', BRIDGE, 'up']);
    }
    if (forward.trim() !== '1') await writeFile('/proc/sys/net/ipv4/ip_forward', '1').catch(() => {});
    await Promise.all(
      NAT_RULES.map(async ([t, table, chain, ...rule]) => {
        const check = await tool('iptables', ['-w', t!, table!, '-C', chain!, ...rule]);
        if (check.code !== 0) {
          const add = await tool('iptables', ['-w', t!, table!, '-I', chain!, ...rule]);
          if (add.code !== 0) throw new KilnError('NETWORK_FAILED', `iptables ${chain} ${rule.join(' ')}: ${add.stderr.trim()}`);
        }
      }),
    );
  })().catch((err) => {
    bridgeReady = undefined;
    throw err;
  });
  return bridgeReady;
}

/** Takes the first free address (files created with O_EXCL, so concurrent kilns never share one). */
async function lease(record: Lease): Promise<string> {
  await mkdir(LEASES, { recursive: true });
  for (let n = 2; n < 65534; n++) {
    if ((n & 255) === 0 || (n & 255) === 255) continue;
    const addr = ipOf(n);
    try {
      await writeFile(join(LEASES, addr), JSON.stringify(record), { flag: 'wx' });
      return addr;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  throw new KilnError('NETWORK_FAILED', `no free address left in ${SUBNET}`);
}

/** A namespace `ns` with a veth on kiln0 and address `addr` (the caller holds the lease). */
async function createEndpoint(id: string, addr: string): Promise<void> {
  const ns = netnsName(id);
  const veth = vethName(id);
  await ip(
    ['-batch', '-'],
    [`netns add ${ns}`, `link add ${veth} type veth peer name eth0 netns ${ns}`, `link set ${veth} master ${BRIDGE}`, `link set ${veth} up`].join('\n') + '\n',
  );
  await ip(
    ['-n', ns, '-batch', '-'],
    ['link set lo up', `addr add ${addr}/${PREFIX} dev eth0`, 'link set eth0 up', `route add default via ${GATEWAY}`].join('\n') + '\n',
  );
}

/** Creates a namespace with a veth on kiln0 and an address for container `id`. */
export async function attachBridge(ctx: NetworkContext): Promise<NetworkAttachment> {
  await ensureBridge();
  const addr = await lease({ root: ctx.root, id: ctx.id });
  const release = () => releaseStaleNetwork(ctx.root, ctx.id);
  try {
    await createEndpoint(ctx.id, addr);
  } catch (err) {
    await release().catch(() => {});
    throw err;
  }
  return { ns: { path: `/run/netns/${netnsName(ctx.id)}` }, ip: addr, release };
}

interface PooledEndpoint {
  id: string;
  addr: string;
}

/** Idle pooled namespaces of this process, and how many it keeps at most (one per parallel step, roughly). */
const pool: PooledEndpoint[] = [];
const POOL_MAX = 8;
/** Every pooled namespace this process owns (idle or in use), for the exit hook. */
const owned = new Map<string, PooledEndpoint>();
let exitHook = false;

/** Deletes this process's pooled namespaces and leases at exit (synchronously: `exit` runs no more I/O). */
function deleteOwnedAtExit(): void {
  if (owned.size === 0) return;
  try {
    execFileSync('ip', ['-force', '-batch', '-'], {
      input: [...owned.values()].map((e) => `netns del ${netnsName(e.id)}`).join('\n') + '\n',
      stdio: ['pipe', 'ignore', 'ignore'],
    });
  } catch {
    /* a later sweep removes what is left: the owner is dead */
  }
  for (const e of owned.values()) {
    try {
      unlinkSync(join(LEASES, e.addr));
    } catch {
      /* the same */
    }
  }
}

async function destroyPooled(e: PooledEndpoint): Promise<void> {
  owned.delete(e.id);
  await tool('ip', ['netns', 'del', netnsName(e.id)]);
  await unlink(join(LEASES, e.addr)).catch(() => {});
}

/**
 * A bridge namespace for a RUN step, from this process's pool or new. `release({ reuse: true })` returns it to
 * the pool; anything else deletes it (see the header for when a namespace may serve another step).
 */
export async function attachPooled(ctx: NetworkContext): Promise<NetworkAttachment> {
  let e = pool.pop();
  if (!e) {
    await ensureBridge();
    const id = randomBytes(32).toString('hex');
    const startTime = (await processStartTime(process.pid)) ?? '';
    const addr = await lease({ root: ctx.root, id, pid: process.pid, startTime });
    e = { id, addr };
    owned.set(id, e);
    if (!exitHook) {
      exitHook = true;
      process.once('exit', deleteOwnedAtExit);
    }
    try {
      await createEndpoint(id, addr);
    } catch (err) {
      await destroyPooled(e).catch(() => {});
      throw err;
    }
  }
  const entry = e;
  let released = false;
  return {
    ns: { path: `/run/netns/${netnsName(entry.id)}` },
    ip: entry.addr,
    async release(o) {
      if (released) return;
      released = true;
      if (o?.reuse && pool.length < POOL_MAX) pool.push(entry);
      else await destroyPooled(entry);
    },
  };
}

/** Deletes this process's idle pooled namespaces now (tests; a long-lived process that wants them gone). */
export async function drainNetworkPool(): Promise<void> {
  for (const e of pool.splice(0)) await destroyPooled(e).catch(() => {});
}

/** Removes container `id`'s namespace (its veth goes with it) and its address lease. Safe when absent. */
export async function releaseStaleNetwork(root: string, id: string): Promise<void> {
  await tool('ip', ['netns', 'del', netnsName(id)]);
  for (const name of await readdir(LEASES).catch(() => [] as string[])) {
    const l = await readFile(join(LEASES, name), 'utf8').then(
      (t) => JSON.parse(t) as Lease,
      () => undefined,
    );
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
    const l = await readFile(join(LEASES, name), 'utf8').then(
      (t) => JSON.parse(t) as Lease,
      () => undefined,
    );
    if (!l) continue;
    // A pooled namespace lives as long as the process that owns it, whatever container it serves.
    const gone =
      l.pid !== undefined
        ? (await processStartTime(l.pid)) !== l.startTime
        : l.root === root
          ? !(await isLive(l.id))
          : !(await stat(l.root).then(
              () => true,
              () => false,
            ));
    if (gone) await releaseStaleNetwork(l.root, l.id);
    else leased.add(netnsName(l.id));
  }
  for (const ns of await readdir('/run/netns').catch(() => [] as string[])) {
    if (/^kiln-[0-9a-f]{16}$/.test(ns) && !leased.has(ns)) await tool('ip', ['netns', 'del', ns]);
  }
}
