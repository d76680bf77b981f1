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

/** The host's resolv.conf; loopback nameservers are dropped for containers with their own network namespace. */
async function resolvConf(shareHostNet: boolean): Promise<string> {
  hostResolv ??= readFile('/etc/resolv.conf', 'utf8').catch(() => '');
  const text = await hostResolv;
  if (shareHostNet) return text;
  return text.split('\n').filter((l) => !/^\s*nameserver\s+(127\.|::1)/.test(l)).join('\n');
}

/** Writes the three files into `bundle`; returns their paths. */
export async function writeEtcFiles(bundle: string, o: { hostname: string; ip?: string; shareHostNet: boolean; extraHosts?: string[] }): Promise<EtcFiles> {
  const files: EtcFiles = { hosts: join(bundle, 'hosts'), hostname: join(bundle, 'hostname'), resolvConf: join(bundle, 'resolv.conf') };
  let hosts: string;
  if (o.shareHostNet) {
    hosts = await readFile('/etc/hosts', 'utf8').catch(() => '127.0.0.1\tlocalhost\n');
  } else {
    hosts = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n';
    if (o.ip) hosts += `${o.ip}\t${o.hostname}\n`;
  }
  for (const line of o.extraHosts ?? []) hosts += `${line}\n`;
  await Promise.all([
    writeFile(files.hosts, hosts),
    writeFile(files.hostname, `${o.hostname}\n`),
    resolvConf(o.shareHostNet).then((t) => writeFile(files.resolvConf, t)),
  ]);
  return files;
}
