/**
 * Sends a query to one upstream server and waits for its answer, over UDP or TCP. Each exchange uses its own
 * socket (a fresh source port) and a fresh random ID, and accepts only an answer that carries that ID and the
 * same question, so an off-path packet cannot poison what the container gets back. The caller maps the ID back.
 */
import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect, isIPv6 } from 'node:net';
import { DnsFormatError, readFirstQuestion, readHeader, type DnsQuestion } from './wire.js';
import type { Upstream } from './resolv-conf.js';

export interface ExchangeOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

function sameQuestion(a: DnsQuestion, b: DnsQuestion): boolean {
  return a.type === b.type && a.class === b.class && a.name.toLowerCase() === b.name.toLowerCase();
}

/** True when `answer` is a response to `id` about `question`. */
function matches(answer: Buffer, id: number, question: DnsQuestion): boolean {
  try {
    const h = readHeader(answer);
    return h.qr && h.id === id && sameQuestion(readFirstQuestion(answer), question);
  } catch {
    return false;
  }
}

/** Copies `query` with a fresh random ID; returns the copy and the ID. */
function withFreshId(query: Buffer): { packet: Buffer; id: number } {
  const packet = Buffer.from(query);
  const id = randomInt(0x10000);
  packet.writeUInt16BE(id, 0);
  return { packet, id };
}

/**
 * One exchange with `upstream`. Resolves to the answer (with the upstream's ID, which the caller replaces),
 * rejects on timeout, abort or a socket error.
 */
export function exchange(upstream: Upstream, query: Buffer, question: DnsQuestion, transport: 'udp' | 'tcp', opts: ExchangeOptions): Promise<Buffer> {
  return transport === 'udp' ? exchangeUdp(upstream, query, question, opts) : exchangeTcp(upstream, query, question, opts);
}

function guard<T>(opts: ExchangeOptions, what: string, run: (settle: (err: Error | null, value?: T) => void) => () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let cleanup: () => void = () => {};
    let done = false;
    const settle = (err: Error | null, value?: T) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      cleanup();
      if (err) reject(err);
      else resolve(value as T);
    };
    const onAbort = () => settle(new Error(`${what}: aborted`));
    const timer = setTimeout(() => settle(new Error(`${what}: no answer within ${opts.timeoutMs} ms`)), opts.timeoutMs);
    if (opts.signal?.aborted) return settle(new Error(`${what}: aborted`));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    cleanup = run(settle);
    if (done) cleanup();
  });
}

function exchangeUdp(upstream: Upstream, query: Buffer, question: DnsQuestion, opts: ExchangeOptions): Promise<Buffer> {
  const { packet, id } = withFreshId(query);
  return guard<Buffer>(opts, `udp ${upstream.address}:${upstream.port}`, (settle) => {
    const sock = createSocket(isIPv6(upstream.address.replace(/%.*$/, '')) ? 'udp6' : 'udp4');
    // A connected socket receives only from the upstream's address and port.
    sock.on('error', (err) => settle(err));
    sock.on('message', (msg) => {
      if (matches(msg, id, question)) settle(null, msg);
    });
    sock.connect(upstream.port, upstream.address, () => sock.send(packet, (err) => err && settle(err)));
    return () => {
      try {
        sock.close();
      } catch {
        // Already closed after an error.
      }
    };
  });
}

/** Longest TCP message: its length prefix is 16 bits. */
const MAX_TCP_MESSAGE = 0xffff;

function exchangeTcp(upstream: Upstream, query: Buffer, question: DnsQuestion, opts: ExchangeOptions): Promise<Buffer> {
  const { packet, id } = withFreshId(query);
  return guard<Buffer>(opts, `tcp ${upstream.address}:${upstream.port}`, (settle) => {
    const sock = connect({ host: upstream.address, port: upstream.port });
    let buf: Buffer = Buffer.alloc(0);
    sock.on('error', (err) => settle(err));
    sock.on('close', () => settle(new Error(`tcp ${upstream.address}:${upstream.port}: closed before answering`)));
    sock.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(packet.length, 0);
      sock.write(Buffer.concat([len, packet]));
    });
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2) {
        const n = buf.readUInt16BE(0);
        if (buf.length < 2 + n) break;
        const msg = buf.subarray(2, 2 + n);
        buf = buf.subarray(2 + n);
        if (matches(msg, id, question)) return settle(null, Buffer.from(msg));
      }
      if (buf.length > MAX_TCP_MESSAGE + 2) settle(new DnsFormatError('oversized TCP message'));
    });
    return () => sock.destroy();
  });
}
