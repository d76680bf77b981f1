/**
 * Reads the host's resolver configuration: the nameservers the embedded DNS forwards to, and the search domains
 * whose suffix it strips (a container's resolver tries `web.example.com` before `web` when the host searches
 * example.com, and the container name must still resolve). The DNS process runs in the host's network namespace,
 * so loopback resolvers such as systemd-resolved's 127.0.0.53 work as they are.
 */
import { readFileSync } from 'node:fs';

/** An upstream server. */
export interface Upstream {
  address: string;
  port: number;
}

export interface ResolvConf {
  nameservers: string[];
  search: string[];
}

/** Parses resolv.conf text (resolv.conf(5)): `nameserver` lines in order, the last `search` or `domain` wins. */
export function parseResolvConf(text: string): ResolvConf {
  const nameservers: string[] = [];
  let search: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && rest[0]) nameservers.push(rest[0]);
    else if (key === 'search') search = rest.filter(Boolean);
    else if (key === 'domain' && rest[0]) search = [rest[0]];
  }
  return { nameservers, search: search.map((d) => d.replace(/\.$/, '').toLowerCase()).filter((d) => d !== '') };
}

/** Reads `path` (the host's /etc/resolv.conf); a missing or unreadable file is an empty configuration. */
export function readResolvConf(path = '/etc/resolv.conf'): ResolvConf {
  try {
    return parseResolvConf(readFileSync(path, 'utf8'));
  } catch {
    return { nameservers: [], search: [] };
  }
}

/**
 * Parses an upstream as `IP`, `IP:port`, `[IPv6]` or `[IPv6]:port` (a bare IPv6 address has no port); the
 * port defaults to 53. Returns undefined for anything else.
 */
export function parseUpstream(spec: string): Upstream | undefined {
  let address = spec;
  let port = 53;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(spec);
  if (bracket) {
    address = bracket[1]!;
    if (bracket[2] !== undefined) port = Number(bracket[2]);
  } else if (/^[\d.]+:\d+$/.test(spec)) {
    const i = spec.lastIndexOf(':');
    address = spec.slice(0, i);
    port = Number(spec.slice(i + 1));
  }
  if (!Number.isInteger(port) || port < 1 || port > 65_535) return undefined;
  const isV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(address) && address.split('.').every((o) => Number(o) <= 255);
  // IPv6, optionally with a zone (fe80::1%eth0), as resolv.conf allows.
  const isV6 = /^[0-9a-f:.]+(%[\w.-]+)?$/i.test(address) && address.includes(':');
  return isV4 || isV6 ? { address, port } : undefined;
}
