/**
 * Feeding the embedded DNS server of a user-defined network (its internals are dns/dns-main.ts). Per network,
 * `/run/kiln/dns/<network id>/records/<container id>.json` = `{"names": [name, short id, …aliases], "ipv4": ip}`,
 * written atomically (tmp + rename) when an endpoint gets its address and removed when it leaves. The server runs
 * detached in the host's namespace on the gateway address, writes `dns.pid` beside `records/`, and exits by
 * itself once `records/` is gone; removal also kills it.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RUN_DIR } from './ipam.js';

export const DNS_DIR = join(RUN_DIR, 'dns');
const ID = /^[0-9a-f]{64}$/;

export function dnsDir(networkId: string): string {
  if (!ID.test(networkId)) throw new Error(`not a network id: ${networkId}`);
  return join(DNS_DIR, networkId);
}
export function recordsDir(networkId: string): string {
  return join(dnsDir(networkId), 'records');
}

export interface DnsRecord {
  names: string[];
  ipv4: string;
}

/** The names a container answers to on a network: its name, its 12-hex short id, then its aliases (deduplicated). */
export function endpointNames(containerId: string, containerName: string, aliases: string[]): string[] {
  return [...new Set([containerName, containerId.slice(0, 12), ...aliases].filter(Boolean))];
}

export async function writeDnsRecord(networkId: string, containerId: string, rec: DnsRecord): Promise<void> {
  const dir = recordsDir(networkId);
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${containerId}.json`);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(rec));
  await rename(tmp, file);
}

export async function removeDnsRecord(networkId: string, containerId: string): Promise<void> {
  await unlink(join(recordsDir(networkId), `${containerId}.json`)).catch(() => {});
}

/** The DNS entry next to this file (`.ts` under tsx in development, `.js` compiled); undefined while absent. */
export function dnsEntry(): string | undefined {
  const self = fileURLToPath(import.meta.url);
  const entry = fileURLToPath(new URL(`./dns/dns-main${extname(self)}`, import.meta.url));
  return existsSync(entry) ? entry : undefined;
}

/** The host's nameservers: the server runs in the host's namespace, so loopback ones (127.0.0.53) work. */
async function upstreams(): Promise<string[]> {
  const text = await readFile('/etc/resolv.conf', 'utf8').catch(() => '');
  return [...text.matchAll(/^\s*nameserver\s+([0-9.]+)\s*$/gm)].map((m) => m[1]!);
}

/** The pid of the network's running DNS server, if one runs (its command line names the records dir). */
export async function dnsServerPid(networkId: string): Promise<number | undefined> {
  const pid = Number((await readFile(join(dnsDir(networkId), 'dns.pid'), 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmd.includes(recordsDir(networkId)) ? pid : undefined;
}

/**
 * Starts the network's DNS server unless one runs. A `spawning` file taken with O_EXCL keeps two kiln processes
 * from starting two at once (one taken more than 10 s ago was left by a crash). Returns false when this build has
 * no dns-main (the server is then not started, and names do not resolve).
 */
export async function ensureDnsServer(networkId: string, gateway: string): Promise<boolean> {
  const entry = dnsEntry();
  if (!entry) return false;
  await mkdir(recordsDir(networkId), { recursive: true });
  if (await dnsServerPid(networkId)) return true;
  const lock = join(dnsDir(networkId), 'spawning');
  try {
    await writeFile(lock, String(Date.now()), { flag: 'wx' });
  } catch {
    const since = Number(await readFile(lock, 'utf8').catch(() => '0'));
    if (Date.now() - since < 10_000) return true;
    await writeFile(lock, String(Date.now()));
  }
  try {
    const args = ['--listen', gateway, '--records-dir', recordsDir(networkId), ...(await upstreams()).flatMap((u) => ['--upstream', u])];
    // Compiled, it runs from / so it pins no directory; under tsx the loader resolves from the working directory.
    const cwd = process.execArgv.length ? process.cwd() : '/';
    const child = spawn(process.execPath, [...process.execArgv, entry, ...args], { detached: true, stdio: 'ignore', cwd });
    child.on('error', () => {});
    child.unref();
    // dns.pid appears once it listens; give it a moment so the first container's lookups find it.
    for (let i = 0; i < 100 && !(await dnsServerPid(networkId)); i++) await new Promise((r) => setTimeout(r, 20));
  } finally {
    await unlink(lock).catch(() => {});
  }
  return true;
}

/** Removes the network's records (the server exits on its own then) and kills the server if it still runs. */
export async function stopDnsServer(networkId: string): Promise<void> {
  const pid = await dnsServerPid(networkId);
  await rm(dnsDir(networkId), { recursive: true, force: true });
  if (pid) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  }
}
