/**
 * /etc/hosts, /etc/hostname and /etc/resolv.conf for a container, written into its bundle and bind-mounted
 * by runc (as Docker does), so the image's own files stay untouched and never end up in a layer.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface EtcFiles {
  hosts: string;
  hostname: string;
  resolvConf: string;
}

let hostResolv: Promise<string> | undefined;

/** Docker's fallback when filtering leaves no nameserver (libnetwork's resolvconf defaults, IPv4 only here). */
export const DEFAULT_NAMESERVERS = ['8.8.8.8', '8.8.4.4'];

/**
 * resolv.conf for a container with its own network namespace, from the host's, as Docker writes it: nameservers
 * on the host's loopback (systemd-resolved's 127.0.0.53, a local dnsmasq) are unreachable from the container and
 * are dropped, and when none is left Docker's default public servers are written in instead. Only text: nothing is
 * sent anywhere until a process in the container resolves a name.
 */
export function containerResolvConf(host: string): string {
  const loopback = /^\s*nameserver\s+(127\.[\d.]+|::1|(0+:){7}0*1)(%\S*)?(\s|$)/;
  const lines = host.split('\n').filter((l) => !loopback.test(l));
  if (!lines.some((l) => /^\s*nameserver\s/.test(l))) {
    while (lines.length && lines.at(-1) === '') lines.pop();
    lines.push(...DEFAULT_NAMESERVERS.map((n) => `nameserver ${n}`), '');
  }
  return lines.join('\n');
}

/**
 * resolv.conf pointing at `nameservers` (a user-defined network's embedded DNS, as Docker's 127.0.0.11) with the
 * host's search and options lines, as Docker writes it for containers on user-defined networks.
 */
export function embeddedResolvConf(host: string, nameservers: string[]): string {
  const kept = host.split('\n').filter((l) => /^\s*(search|domain|options)\s/.test(l));
  return [...nameservers.map((n) => `nameserver ${n}`), ...kept, ''].join('\n');
}

/** The host's resolv.conf, as is for containers on the host's network, filtered (above) for the others. */
async function resolvConf(shareHostNet: boolean, nameservers?: string[]): Promise<string> {
  hostResolv ??= readFile('/etc/resolv.conf', 'utf8').catch(() => '');
  const text = await hostResolv;
  if (nameservers?.length) return embeddedResolvConf(text, nameservers);
  return shareHostNet ? text : containerResolvConf(text);
}

/** Writes the three files into `bundle`; returns their paths. */
export async function writeEtcFiles(
  bundle: string,
  o: { hostname: string; ip?: string; shareHostNet: boolean; extraHosts?: string[]; nameservers?: string[] },
): Promise<EtcFiles> {
  const files: EtcFiles = { hosts: join(bundle, 'hosts'), hostname: join(bundle, 'hostname'), resolvConf: join(bundle, 'resolv.conf') };
  let hosts: string;
  if (o.shareHostNet) {
    hosts = await readFile('/etc/hosts', 'utf8').catch(() => '127.0.0.1\tlocalhost\n');
  } else {
    hosts =
      '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n';
    if (o.ip) hosts += `${o.ip}\t${o.hostname}\n`;
  }
  for (const line of o.extraHosts ?? []) hosts += `${line}\n`;
  await Promise.all([
    writeFile(files.hosts, hosts),
    writeFile(files.hostname, `${o.hostname}\n`),
    resolvConf(o.shareHostNet, o.nameservers).then((t) => writeFile(files.resolvConf, t)),
  ]);
  return files;
}
