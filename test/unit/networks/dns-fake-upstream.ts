/**
 * A fake upstream DNS server for the embedded DNS tests, on a 127.0.0.x address of its own: UDP and TCP on one
 * port, answering every A question with FAKE_ADDRESS (mode 'answer'), only over TCP with a truncated UDP answer
 * (mode 'truncate'), or never (mode 'silent', for timeouts). It counts what it receives.
 */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { buildMessage, CLASS_IN, encodeA, parseMessage, RRType } from '../../../src/networks/dns/wire.js';

export const FAKE_ADDRESS = '192.0.2.7';

export interface FakeUpstream {
  address: string;
  port: number;
  udpQueries: number;
  tcpQueries: number;
  close(): Promise<void>;
}

function answer(query: Buffer, tc: boolean): Buffer {
  const msg = parseMessage(query);
  const q = msg.questions[0]!;
  const answers = q.type === RRType.A && !tc ? [{ name: q.name, type: RRType.A, class: CLASS_IN, ttl: 30, data: encodeA(FAKE_ADDRESS) }] : [];
  return buildMessage({ header: { id: msg.header.id, qr: true, rd: msg.header.rd, ra: true, tc }, questions: [q], answers });
}

export async function startFakeUpstream(address: string, mode: 'answer' | 'truncate' | 'silent'): Promise<FakeUpstream> {
  const udp = createSocket('udp4');
  const state: FakeUpstream = { address, port: 0, udpQueries: 0, tcpQueries: 0, close: async () => {} };
  udp.on('message', (msg, rinfo) => {
    state.udpQueries++;
    if (mode !== 'silent') udp.send(answer(msg, mode === 'truncate'), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => udp.bind(0, address, () => r()));
  state.port = udp.address().port;
  const tcp = createServer((sock) => {
    let buf: Buffer = Buffer.alloc(0);
    sock.on('error', () => {});
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const q = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + q.length);
        state.tcpQueries++;
        if (mode === 'silent') continue;
        const out = answer(q, false);
        sock.write(Buffer.concat([Buffer.from([out.length >> 8, out.length & 0xff]), out]));
      }
    });
  });
  await new Promise<void>((r) => tcp.listen(state.port, address, () => r()));
  state.close = async () => {
    await Promise.all([new Promise<void>((r) => udp.close(() => r())), new Promise<void>((r) => tcp.close(() => r()))]);
  };
  return state;
}
