import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  buildMessage,
  CLASS_IN,
  DnsFormatError,
  encodeA,
  encodeName,
  parseMessage,
  ptrNameToIPv4,
  readName,
  RRType,
  udpPayloadLimit,
} from '../../../src/networks/dns/wire.js';

const isFormat = (e: unknown) => e instanceof DnsFormatError;

/** A query built by hand (not by buildMessage), so the parser is checked against independent bytes. */
function handQuery(id: number, labels: string[], type: number): Buffer {
  const name = Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
  const head = Buffer.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  return Buffer.concat([head, name, Buffer.from([type >> 8, type & 0xff, 0, 1])]);
}

test('parseMessage() reads a hand-built query', () => {
  const msg = parseMessage(handQuery(0xbeef, ['Web', 'example'], RRType.A));
  assert.is(msg.header.id, 0xbeef);
  assert.ok(msg.header.rd);
  assert.not.ok(msg.header.qr);
  assert.equal(msg.questions, [{ name: 'Web.example', type: RRType.A, class: CLASS_IN }]);
});

test('buildMessage() and parseMessage() round-trip a response, compressing repeated names', () => {
  const answers = ['10.0.0.1', '10.0.0.2'].map((ip) => ({ name: 'web.net', type: RRType.A, class: CLASS_IN, ttl: 600, data: encodeA(ip) }));
  const packet = buildMessage({ header: { id: 7, qr: true, rd: true, ra: true }, questions: [{ name: 'web.net', type: RRType.A, class: CLASS_IN }], answers });
  // Header 12 + question (9 + 4) + two answers each a 2-byte pointer + 10 + 4.
  assert.is(packet.length, 12 + 13 + 2 * 16);
  assert.is(packet.readUInt16BE(25), 0xc00c, 'the answer name points at the question name');
  const back = parseMessage(packet);
  assert.ok(back.header.qr && back.header.ra && !back.header.tc);
  assert.equal(
    back.answers.map((a) => [a.name, a.ttl, [...a.data].join('.')]),
    [
      ['web.net', 600, '10.0.0.1'],
      ['web.net', 600, '10.0.0.2'],
    ],
  );
});

test('names with dots, backslashes and binary octets in labels round-trip through escapes', () => {
  const raw = Buffer.from([3, 0x61, 0x2e, 0x62, 2, 0x5c, 0x00, 0]);
  const { name, next } = readName(raw, 0);
  assert.is(name, 'a\\.b.\\\\\\000');
  assert.is(next, raw.length);
  assert.equal(encodeName(name), raw);
  assert.equal(encodeName('web.'), encodeName('web'));
  assert.equal(encodeName(''), Buffer.from([0]));
});

test('a compression pointer loop is refused', () => {
  // Question name at offset 12 is a pointer to itself; then one pointing forward to a pointer back.
  const self = Buffer.concat([Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]), Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
  assert.throws(
    () => parseMessage(self),
    (e: unknown) => e instanceof DnsFormatError && /backwards/.test((e as Error).message),
  );
  const twoStep = Buffer.concat([Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]), Buffer.from([0xc0, 14, 0xc0, 12, 0, 1, 0, 1])]);
  assert.throws(() => parseMessage(twoStep), isFormat);
});

test('out-of-bounds labels, pointers and record data are refused', () => {
  const head = Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
  assert.throws(() => parseMessage(Buffer.concat([head, Buffer.from([9, 0x61, 0x62])])), isFormat);
  assert.throws(() => parseMessage(Buffer.concat([head, Buffer.from([0xc0])])), isFormat);
  assert.throws(() => parseMessage(Buffer.concat([head, Buffer.from([0, 0, 1])])), isFormat, 'question cut short');
  assert.throws(() => parseMessage(Buffer.from([0, 1, 0])), isFormat, 'shorter than a header');
  assert.throws(() => parseMessage(Buffer.concat([head, Buffer.from([0x40, 0, 0, 1, 0, 1])])), isFormat, 'extended label type');
  // An answer whose RDLENGTH runs past the end.
  const q = handQuery(1, ['a'], RRType.A);
  q.writeUInt16BE(1, 6);
  const rr = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 200, 1, 2, 3, 4]);
  assert.throws(() => parseMessage(Buffer.concat([q, rr])), /record data runs past/);
});

test('huge section counts are refused before any loop runs', () => {
  const q = handQuery(1, ['a'], RRType.A);
  q.writeUInt16BE(0xffff, 4);
  q.writeUInt16BE(0xffff, 10);
  const started = process.hrtime.bigint();
  assert.throws(() => parseMessage(q), /section counts exceed/);
  assert.ok(process.hrtime.bigint() - started < 50_000_000n);
});

test('names over 255 octets are refused when read and when encoded', () => {
  const label = Buffer.concat([Buffer.from([63]), Buffer.alloc(63, 0x61)]);
  const long = Buffer.concat([label, label, label, label, Buffer.from([0])]);
  assert.throws(() => readName(long, 0), /255/);
  assert.throws(() => encodeName(Array(5).fill('a'.repeat(60)).join('.')), /255/);
  assert.throws(() => encodeName('a'.repeat(64)), /63/);
  assert.throws(() => encodeName('a..b'), /empty label/);
});

test('udpPayloadLimit() reads the EDNS0 size, never below 512', () => {
  const opt = (size: number) => ({ name: '', type: RRType.OPT, class: size, ttl: 0, data: Buffer.alloc(0) });
  const q = [{ name: 'a', type: RRType.A, class: CLASS_IN }];
  assert.is(udpPayloadLimit(parseMessage(buildMessage({ header: { id: 1 }, questions: q }))), 512);
  assert.is(udpPayloadLimit(parseMessage(buildMessage({ header: { id: 1 }, questions: q, additionals: [opt(1232)] }))), 1232);
  assert.is(udpPayloadLimit(parseMessage(buildMessage({ header: { id: 1 }, questions: q, additionals: [opt(100)] }))), 512);
});

test('ptrNameToIPv4() reverses in-addr.arpa names and ignores others', () => {
  assert.is(ptrNameToIPv4('2.1.90.10.in-addr.arpa'), '10.90.1.2');
  assert.is(ptrNameToIPv4('2.1.90.10.IN-ADDR.ARPA.'), '10.90.1.2');
  assert.is(ptrNameToIPv4('1.90.10.in-addr.arpa'), undefined);
  assert.is(ptrNameToIPv4('300.1.90.10.in-addr.arpa'), undefined);
  assert.is(ptrNameToIPv4('example.com'), undefined);
});

test('random packets never throw anything but DnsFormatError', () => {
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed);
  const base = handQuery(9, ['web', 'example', 'com'], RRType.A);
  for (let i = 0; i < 20_000; i++) {
    const b = i % 2 ? Buffer.from(base) : Buffer.alloc(rand() % 80);
    for (let j = 0; j < 1 + (rand() % 6); j++) if (b.length) b[rand() % b.length] = rand() & 0xff;
    try {
      parseMessage(b.subarray(0, rand() % (b.length + 1)));
    } catch (err) {
      if (!(err instanceof DnsFormatError)) throw err;
    }
  }
});

test.run();
