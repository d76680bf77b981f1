/**
 * `-p HOST:CONTAINER[/tcp|/udp]` publishing as a userland proxy in the process that supervises the container
 * (what docker-proxy does for loopback): simpler than DNAT, and it answers on 127.0.0.1 too. Listening happens
 * before the container starts, so a port in use fails early with PORT_IN_USE and nothing is left behind.
 * UDP, as docker-proxy does it: one upstream socket per client address, so replies find their client; a flow
 * idle for UDP_IDLE_MS is dropped.
 */
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { createConnection, createServer, isIPv6, type Server, type Socket } from 'node:net';
import { KilnError } from '../errors.js';
import type { PortMapping } from './types.js';

export interface PortProxy {
  /** Points the proxy at the container's address once it is known. */
  setTarget(ip: string): void;
  close(): Promise<void>;
}

/** How long a UDP flow with no datagram either way is kept (docker-proxy's conntrack-like timeout). */
const UDP_IDLE_MS = 90_000;

/** Parses `[IP:]HOST:CONTAINER[/tcp|/udp]` (or `CONTAINER` alone: same host port, as Docker picks… here, the same). */
export function parsePort(spec: string): PortMapping {
  const [main, proto = 'tcp'] = spec.split('/') as [string, string?];
  if (proto !== 'tcp' && proto !== 'udp') throw new KilnError('INVALID_ARGUMENT', `port ${spec}: the protocol must be tcp or udp`);
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
  return { hostIp: hostIp || undefined, hostPort: hp, containerPort: cp, protocol: proto };
}

function listenError(err: NodeJS.ErrnoException, m: PortMapping): KilnError {
  const where = `${m.hostIp ?? '0.0.0.0'}:${m.hostPort}${m.protocol === 'udp' ? '/udp' : ''}`;
  return err.code === 'EADDRINUSE'
    ? new KilnError('PORT_IN_USE', `port ${where} is already in use`)
    : new KilnError('NETWORK_FAILED', `listening on ${where}: ${err.message}`, { cause: err });
}

function listen(server: Server, m: PortMapping): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(listenError(err, m)));
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
  const udp: Array<() => void> = [];
  const close = async () => {
    for (const s of sockets) s.destroy();
    for (const c of udp) c();
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  };
  try {
    for (const m of mappings) {
      if (m.protocol === 'udp') {
        udp.push(
          await udpProxy(
            m,
            targetKnown.then(() => target!),
          ),
        );
        continue;
      }
      const server = createServer((client) => {
        sockets.add(client);
        client.on('close', () => sockets.delete(client));
        client.pause();
        void targetKnown
          .then(() => {
            const upstream = createConnection({ host: target!, port: m.containerPort });
            sockets.add(upstream);
            upstream.on('close', () => sockets.delete(upstream));
            client.on('close', () => upstream.destroy());
            upstream.on('error', () => client.destroy());
            client.on('error', () => upstream.destroy());
            client.pipe(upstream);
            upstream.pipe(client);
            client.resume();
          })
          .catch(() => client.destroy()); // cannot reach the container (bad address): drop this client only
      });
      servers.push(server);
      await listen(server, m);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return {
    setTarget(ip) {
      target = ip;
      ready();
    },
    close,
  };
}

/** Binds `m`'s host port and relays datagrams to the container (once `upstreamHost` resolves); returns its close. */
async function udpProxy(m: PortMapping, upstreamHost: Promise<string>): Promise<() => void> {
  const host = m.hostIp ?? '0.0.0.0';
  const front = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', reuseAddr: false });
  await new Promise<void>((resolve, reject) => {
    front.once('error', (err: NodeJS.ErrnoException) => reject(listenError(err, m)));
    front.bind({ address: host, port: m.hostPort, exclusive: true }, () => resolve());
  });
  front.on('error', () => {});
  const flows = new Map<string, { upstream: UdpSocket; ready: Promise<void>; timer: NodeJS.Timeout }>();
  const drop = (key: string) => {
    const f = flows.get(key);
    if (!f) return;
    clearTimeout(f.timer);
    flows.delete(key);
    f.upstream.close();
  };
  const flowFor = (client: RemoteInfo, target: string) => {
    const key = `${client.address}|${client.port}`;
    let f = flows.get(key);
    if (!f) {
      const upstream = createSocket(isIPv6(target) ? 'udp6' : 'udp4');
      upstream.on('error', () => drop(key));
      // Replies go back to the client from the published port, as it expects.
      upstream.on('message', (reply) => {
        try {
          front.send(reply, client.port, client.address);
        } catch {
          return; // the proxy closed meanwhile
        }
        touch(key);
      });
      const ready = new Promise<void>((resolve) => upstream.connect(m.containerPort, target, () => resolve()));
      f = { upstream, ready, timer: setTimeout(() => drop(key), UDP_IDLE_MS) };
      f.timer.unref();
      flows.set(key, f);
    }
    return f;
  };
  const touch = (key: string) => {
    const f = flows.get(key);
    if (f) f.timer.refresh();
  };
  front.on('message', (msg, client) => {
    void upstreamHost
      .then(async (target) => {
        const f = flowFor(client, target);
        touch(`${client.address}|${client.port}`);
        await f.ready;
        f.upstream.send(msg);
      })
      .catch(() => {});
  });
  return () => {
    for (const key of [...flows.keys()]) drop(key);
    front.close();
  };
}
