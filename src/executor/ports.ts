/**
 * `-p HOST:CONTAINER` publishing as a userland TCP proxy in the process that supervises the container (what
 * docker-proxy does for loopback): simpler than DNAT, and it answers on 127.0.0.1 too. Listening happens before
 * the container starts, so a port in use fails early with PORT_IN_USE and nothing is left behind.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { KilnError } from '../errors.js';
import type { PortMapping } from './types.js';

export interface PortProxy {
  /** Points the proxy at the container's address once it is known. */
  setTarget(ip: string): void;
  close(): Promise<void>;
}

/** Parses `[IP:]HOST:CONTAINER[/tcp]` (or `CONTAINER` alone: same host port, as Docker picks… here, the same). */
export function parsePort(spec: string): PortMapping {
  const [main, proto = 'tcp'] = spec.split('/') as [string, string?];
  if (proto !== 'tcp') throw new KilnError('INVALID_ARGUMENT', `port ${spec}: only tcp is supported`);
  const parts = main.split(':');
  let hostIp: string | undefined;
  let host: string;
  let container: string;
  if (parts.length === 3) [hostIp, host, container] = parts as [string, string, string];
  else if (parts.length === 2) [host, container] = parts as [string, string];
  else host = container = parts[0]!;
  const hp = Number(host);
  const cp = Number(container);
  const ok = (n: number) => Number.isInteger(n) && n > 0 && n < 65536;
  if (!ok(hp) || !ok(cp)) throw new KilnError('INVALID_ARGUMENT', `invalid port mapping "${spec}"`, { hint: 'use HOST:CONTAINER, e.g. -p 8080:80' });
  return { hostIp: hostIp || undefined, hostPort: hp, containerPort: cp, protocol: 'tcp' };
}

function listen(server: Server, m: PortMapping): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'EADDRINUSE'
        ? new KilnError('PORT_IN_USE', `port ${m.hostIp ?? '0.0.0.0'}:${m.hostPort} is already in use`)
        : new KilnError('NETWORK_FAILED', `listening on ${m.hostIp ?? '0.0.0.0'}:${m.hostPort}: ${err.message}`, { cause: err }));
    });
    server.listen({ host: m.hostIp ?? '0.0.0.0', port: m.hostPort }, () => resolve());
  });
}

/** Listens on every mapping; connections wait for `setTarget` before connecting. */
export async function startPortProxy(mappings: PortMapping[]): Promise<PortProxy> {
  let target: string | undefined;
  let ready: () => void = () => {};
  const targetKnown = new Promise<void>((r) => (ready = r));
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  const close = async () => {
    for (const s of sockets) s.destroy();
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  };
  try {
    for (const m of mappings) {
      const server = createServer((client) => {
        sockets.add(client);
        client.on('close', () => sockets.delete(client));
        client.pause();
        void targetKnown.then(() => {
          const upstream = createConnection({ host: target!, port: m.containerPort });
          sockets.add(upstream);
          upstream.on('close', () => sockets.delete(upstream));
          client.on('close', () => upstream.destroy());
          upstream.on('error', () => client.destroy());
          client.on('error', () => upstream.destroy());
          client.pipe(upstream);
          upstream.pipe(client);
          client.resume();
        });
      });
      servers.push(server);
      await listen(server, m);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { setTarget(ip) { target = ip; ready(); }, close };
}
