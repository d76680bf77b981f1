/**
 * Crash clean-up for user-defined networks, run with the sandbox's start-up clean-up (registered with it below)
 * and when `kiln serve` starts. Frees what nobody can own any more: networks whose root is gone or whose record
 * is gone (bridge, rules, DNS server and records, subnet lease), kbr- bridges without a lease, address leases and
 * knet- namespaces of a gone root or of this root whose owning process died. A lease younger than a minute may belong to a network being
 * created and is left alone; another live root's networks are never touched.
 */
import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { addCleanupSweep } from '../sandbox/cleanup.js';
import { processStartTime } from '../sandbox/owner.js';
import { tool } from '../sandbox/tool.js';
import { listBridgeDevices, removeBridgeDevice } from './bridge-device.js';
import { DNS_DIR, removeDnsRecord, stopDnsServer } from './dns.js';
import { listContainerNamespaces, NETNS_OWNERS, readNetnsOwner } from './endpoints.js';
import { readAddressLeases, readSubnetLeases, releaseAddress, releaseSubnet } from './ipam.js';
import { createNetworkStore } from './store.js';

const GRACE_MS = 60_000;

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

async function ownerDead(pid: number, startTime: string): Promise<boolean> {
  return (await processStartTime(pid)) !== startTime;
}

/**
 * Whether an endpoint's lease (or namespace) can go: its root is gone, or it is this root's and the process that
 * held it died (this root's sweep has stopped that process's containers first). Another live root's are left to
 * that root's own sweep, which knows whether their containers still run.
 */
async function endpointGone(o: { root: string; pid: number; startTime: string }, root: string): Promise<boolean> {
  if (!(await exists(o.root))) return true;
  return o.root === root && (await ownerDead(o.pid, o.startTime));
}

/** Sweeps the host's network leftovers as seen from state root `root`. Never throws. */
export async function sweepNetworks(root: string): Promise<void> {
  const leases = await readSubnetLeases();
  const kept = new Set<string>();
  for (const l of leases) {
    const age = Date.now() - ((await stat(l.file).catch(() => undefined))?.mtimeMs ?? 0);
    let gone = false;
    if (!(await exists(l.root))) gone = true;
    else if (l.root === root && age > GRACE_MS) {
      const store = createNetworkStore(root);
      gone = !(await store.get(l.networkId).then(
        (n) => n.Id === l.networkId,
        () => false,
      ));
    }
    if (!gone) {
      kept.add(l.bridge);
      continue;
    }
    await stopDnsServer(l.networkId).catch(() => {});
    await removeBridgeDevice({ bridge: l.bridge, subnet: l.subnet, gateway: l.gateway, internal: l.internal }).catch(() => {});
    await releaseSubnet(l.subnet, l.networkId).catch(() => {});
  }
  for (const b of await listBridgeDevices()) if (!kept.has(b)) await tool('ip', ['link', 'del', b]);
  const live = new Set(leases.filter((l) => kept.has(l.bridge)).map((l) => l.networkId));
  for (const id of await readdir(DNS_DIR).catch(() => [] as string[])) {
    if (/^[0-9a-f]{64}$/.test(id) && !live.has(id) && !leases.some((l) => l.networkId === id)) await stopDnsServer(id).catch(() => {});
  }
  for (const a of await readAddressLeases()) {
    if (!(await endpointGone(a, root))) continue;
    await removeDnsRecord(a.networkId, a.containerId).catch(() => {});
    await releaseAddress(a.networkId, a.ip, a.containerId).catch(() => {});
  }
  const owned = new Set<string>();
  for (const ns of await readdir(NETNS_OWNERS).catch(() => [] as string[])) {
    const o = await readNetnsOwner(ns);
    if (o && !(await endpointGone(o, root))) owned.add(ns);
    else await unlink(join(NETNS_OWNERS, ns)).catch(() => {});
  }
  for (const ns of await listContainerNamespaces()) if (!owned.has(ns)) await tool('ip', ['netns', 'del', ns]);
}

addCleanupSweep((root) => sweepNetworks(root).catch(() => {}));
