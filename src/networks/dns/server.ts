/**
 * The embedded DNS server of a user-defined network (Docker's embedded DNS, podman's aardvark-dns): UDP and TCP on
 * one address and port, answering the network's names itself (answer.ts) and forwarding everything else to the
 * upstream servers in order — a timeout or SERVFAIL moves to the next one, and when none answers the client gets
 * SERVFAIL. Forwarding uses UDP, and TCP when the client asked over TCP or the UDP answer came back truncated.
 * Memory is bounded: at most `maxPending` forwards and `maxTcpConnections` connections at once, each TCP
 * connection holds at most one 64 KiB message and `MAX_INFLIGHT_PER_CONN` queries.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { KilnError } from '../../errors.js';
import { decide, errorReply, type Decision } from './answer.js';
import { exchange } from './forward.js';
import type { Upstream } from './resolv-conf.js';
import { RCode, readHeader } from './wire.js';

export interface DnsServerOptions {
  /** IPv4 address to listen on. */
  address: string;
  /** Port for both UDP and TCP; 0 picks a free one (returned). */
  port: number;
  /** Addresses of a name as asked (case and trailing dot as the client sent them), undefined when not ours. */
  lookup: (name: string) => string[] | undefined;
  /** The name of an address, for PTR queries. */
  reverse?: (ip: string) => string | undefined;
  upstream: Upstream[];
  /** Per-upstream answer timeout; default 4000 ms (Docker's extIOTimeout). */
  timeoutMs?: number;
  /** Forwards in flight at once; beyond it queries are answered SERVFAIL. Default 512. */
  maxPending?: number;
  /** TCP connections at once; beyond it new ones are closed. Default 64. */
  maxTcpConnections?: number;
}

export interface DnsServer {
  port: number;
  close(): Promise<void>;
}

const MAX_INFLIGHT_PER_CONN = 16;
const TCP_IDLE_MS = 10_000;

/** Starts the server; rejects with PORT_IN_USE when the address and port cannot be bound. */
export async function startDnsServer(opts: DnsServerOptions): Promise<DnsServer> {
  const timeoutMs = opts.timeoutMs ?? 4000;
  const maxPending = opts.maxPending ?? 512;
  const maxConns = opts.maxTcpConnections ?? 64;
  const closing = new AbortController();
  let pending = 0;
  const conns = new Set<Socket>();
  const names = { lookup: opts.lookup, reverse: opts.reverse };

  let port = opts.port;
  // Never forward to ourselves (a resolv.conf naming this address would loop every unknown query).
  const upstreamsFor = (p: number) => opts.upstream.filter((u) => !(u.address === opts.address && u.port === p));

  /** Forwards `query`; resolves to the client's answer (ID restored) or SERVFAIL. */
  async function forward(query: Buffer, d: Extract<Decision, { kind: 'forward' }>, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    if (pending >= maxPending) return errorReply(query, RCode.SERVFAIL);
    pending++;
    try {
      for (const up of upstreamsFor(port)) {
        if (closing.signal.aborted) return undefined;
        try {
          let answer = await exchange(up, query, d.question, transport, { timeoutMs, signal: closing.signal });
          if (transport === 'udp' && readHeader(answer).tc) {
            // Truncated: try the full answer over TCP; the client takes it only if it fits its UDP limit, else it
            // gets the truncated one and retries over TCP itself.
            const full = await exchange(up, query, d.question, 'tcp', { timeoutMs, signal: closing.signal }).catch(() => undefined);
            if (full && full.length <= d.udpLimit) answer = full;
          }
          // SERVFAIL from one upstream: try the next, as Docker does.
          if (readHeader(answer).rcode === RCode.SERVFAIL) continue;
          const out = Buffer.from(answer);
          out.writeUInt16BE(query.readUInt16BE(0), 0);
          return out;
        } catch {
          // Timeout or socket error: next upstream.
        }
      }
      return errorReply(query, RCode.SERVFAIL);
    } finally {
      pending--;
    }
  }

  async function handle(query: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    let d: Decision;
    try {
      d = decide(query, names, transport);
    } catch {
      // decide() does not throw by design; a lookup callback might. SERVFAIL rather than a dead server.
      return errorReply(query, RCode.SERVFAIL);
    }
    if (d.kind === 'drop') return undefined;
    if (d.kind === 'reply') return d.packet;
    return forward(query, d, transport);
  }

  const makeUdp = () => {
    const sock = createSocket('udp4');
    sock.on('message', (msg, rinfo) => {
      handle(msg, 'udp')
        .then(
          (out) => {
            if (out && !closing.signal.aborted) sock.send(out, rinfo.port, rinfo.address, () => {});
          },
          () => {},
        )
        // An unhandled rejection would end the process: one client's packet must never do that.
        .catch(() => {});
    });
    return sock;
  };

  const tcp: Server = createServer((sock) => {
    if (conns.size >= maxConns || closing.signal.aborted) return sock.destroy();
    conns.add(sock);
    sock.on('close', () => conns.delete(sock));
    sock.on('error', () => sock.destroy());
    sock.setTimeout(TCP_IDLE_MS, () => sock.destroy());
    let buf: Buffer = Buffer.alloc(0);
    let inflight = 0;
    const pump = () => {
      while (buf.length >= 2 && inflight < MAX_INFLIGHT_PER_CONN) {
        const n = buf.readUInt16BE(0);
        if (buf.length < 2 + n) break;
        const msg = Buffer.from(buf.subarray(2, 2 + n));
        buf = buf.subarray(2 + n);
        inflight++;
        handle(msg, 'tcp')
          .then(
            (out) => {
              if (out && !sock.destroyed) {
                const len = Buffer.alloc(2);
                len.writeUInt16BE(out.length, 0);
                sock.write(Buffer.concat([len, out]));
              } else if (!out) sock.destroy(); // RFC 7766: a server may close on a message it will not answer.
            },
            () => sock.destroy(),
          )
          .finally(() => {
            inflight--;
            if (sock.isPaused() && !sock.destroyed) sock.resume();
            pump();
          })
          .catch(() => sock.destroy());
      }
      if (inflight >= MAX_INFLIGHT_PER_CONN) sock.pause();
    };
    sock.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      pump();
    });
  });
  tcp.on('error', () => {});

  const bound = await bindBoth(makeUdp, tcp, opts.address, opts.port);
  const udp = bound.udp;
  port = bound.port;
  // Send errors (an ICMP-unreachable client) surface here; they concern one client, never the server.
  udp.on('error', () => {});

  return {
    port,
    async close() {
      closing.abort();
      for (const c of conns) c.destroy();
      await Promise.all([new Promise<void>((r) => udp.close(() => r())), new Promise<void>((r) => tcp.close(() => r()))]);
    },
  };
}

function listenUdp(udp: UdpSocket, address: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    udp.once('error', onError);
    udp.bind({ address, port, exclusive: true }, () => {
      udp.off('error', onError);
      resolve(udp.address().port);
    });
  });
}

function listenTcp(tcp: Server, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    tcp.once('error', onError);
    tcp.listen({ host: address, port, exclusive: true }, () => {
      tcp.off('error', onError);
      resolve();
    });
  });
}

/** Binds UDP then TCP on the same port; with port 0, picks again when the port UDP got is taken for TCP. */
async function bindBoth(makeUdp: () => UdpSocket, tcp: Server, address: string, port: number): Promise<{ udp: UdpSocket; port: number }> {
  const fail = (err: unknown) => new KilnError('PORT_IN_USE', `dns: cannot listen on ${address}:${port}: ${(err as Error).message}`, { cause: err });
  for (let attempt = 0; ; attempt++) {
    const udp = makeUdp();
    let got: number;
    try {
      got = await listenUdp(udp, address, port);
    } catch (err) {
      udp.close();
      throw fail(err);
    }
    try {
      await listenTcp(tcp, address, got);
      return { udp, port: got };
    } catch (err) {
      udp.close();
      if (port !== 0 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 4) throw fail(err);
    }
  }
}
