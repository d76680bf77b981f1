import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { connect } from 'node:net';
import { buildNameTable } from '../../../src/networks/dns/records.js';
import { startDnsServer, type DnsServer } from '../../../src/networks/dns/server.js';
import { buildMessage, CLASS_IN, parseMessage, RCode, RRType, type DnsMessage } from '../../../src/networks/dns/wire.js';
import { FAKE_ADDRESS, startFakeUpstream, type FakeUpstream } from './dns-fake-upstream.js';

const table = buildNameTable(
  [
    { id: 'c1', names: ['web', 'c1c1c1c1c1c1', 'shared'], ipv4: '10.90.1.2' },
    { id: 'c2', names: ['db', 'shared'], ipv4: '10.90.1.3' },
    ...Array.from({ length: 50 }, (_, i) => ({ id: `m${i}`, names: ['many'], ipv4: `10.90.2.${i + 1}` })),
  ],
  { search: ['corp.example'] },
);

let server: DnsServer;
let up: FakeUpstream;
let silent: FakeUpstream;

function resolver(): Resolver {
  const r = new Resolver({ timeout: 3000, tries: 1 });
  r.setServers([`127.0.0.1:${server.port}`]);
  return r;
}

/** One raw query over TCP, length-prefixed (Node's resolver has no TCP-only switch). */
function tcpQuery(port: number, name: string, type: number): Promise<DnsMessage> {
  const q = buildMessage({ header: { id: 0x1234, rd: true }, questions: [{ name, type, class: CLASS_IN }] });
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port });
    let buf: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => (sock.destroy(), reject(new Error('tcp query timed out'))), 5000);
    sock.on('error', reject);
    sock.on('connect', () => sock.write(Buffer.concat([Buffer.from([q.length >> 8, q.length & 0xff]), q])));
    sock.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        clearTimeout(timer);
        sock.destroy();
        resolve(parseMessage(buf.subarray(2, 2 + buf.readUInt16BE(0))));
      }
    });
  });
}

/** Sends raw bytes over UDP; resolves to the reply, or undefined when none came within `ms`. */
function udpRaw(port: number, bytes: Buffer, ms = 300): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const timer = setTimeout(() => (s.close(), resolve(undefined)), ms);
    s.on('message', (m) => (clearTimeout(timer), s.close(), resolve(m)));
    s.send(bytes, port, '127.0.0.1');
  });
}

test.before(async () => {
  up = await startFakeUpstream('127.0.0.2', 'answer');
  silent = await startFakeUpstream('127.0.0.3', 'silent');
  server = await startDnsServer({
    address: '127.0.0.1',
    port: 0,
    lookup: table.lookup,
    reverse: table.reverse,
    upstream: [{ address: up.address, port: up.port }],
    timeoutMs: 400,
  });
});

test.after(async () => {
  await server?.close();
  await up?.close();
  await silent?.close();
});

test('a known name answers its address with TTL 600, case-insensitively, with or without the trailing dot', async () => {
  const r = resolver();
  assert.equal(await r.resolve4('web', { ttl: true }), [{ address: '10.90.1.2', ttl: 600 }]);
  assert.equal(await r.resolve4('WeB.'), ['10.90.1.2']);
  assert.equal(await r.resolve4('c1c1c1c1c1c1'), ['10.90.1.2']);
});

test('an alias shared by several containers answers all their addresses', async () => {
  assert.equal((await resolver().resolve4('shared')).sort(), ['10.90.1.2', '10.90.1.3']);
});

test('a name with a host search domain appended resolves as the bare name', async () => {
  assert.equal(await resolver().resolve4('db.corp.example'), ['10.90.1.3']);
});

test('AAAA for a known name is NOERROR with no answers', async () => {
  const before = up.udpQueries;
  await resolver()
    .resolve6('web')
    .then(
      () => assert.unreachable('expected no AAAA records'),
      (err: NodeJS.ErrnoException) => assert.is(err.code, 'ENODATA'),
    );
  assert.is(up.udpQueries, before, 'not forwarded');
});

test('PTR for a known address answers the container name', async () => {
  assert.equal(await resolver().reverse('10.90.1.3'), ['db']);
});

test('an unknown name is forwarded to the upstream and its answer comes back', async () => {
  const before = up.udpQueries;
  assert.equal(await resolver().resolve4('www.example.test'), [FAKE_ADDRESS]);
  assert.is(up.udpQueries, before + 1);
});

test('more addresses than fit in 512 bytes: UDP answer truncated, the client retries over TCP and gets all', async () => {
  const ips = await resolver().resolve4('many');
  assert.is(ips.length, 50);
});

test('a TCP query is answered locally, and forwarded over TCP', async () => {
  const local = await tcpQuery(server.port, 'web', RRType.A);
  assert.is(local.header.id, 0x1234);
  assert.equal([...local.answers[0]!.data].join('.'), '10.90.1.2');
  const before = up.tcpQueries;
  const fwd = await tcpQuery(server.port, 'www.example.test', RRType.A);
  assert.is(fwd.header.id, 0x1234, 'the rewritten ID is mapped back');
  assert.equal([...fwd.answers[0]!.data].join('.'), FAKE_ADDRESS);
  assert.is(up.tcpQueries, before + 1);
});

test('hostile packets are dropped or answered FORMERR and the server keeps serving', async () => {
  const loop = Buffer.concat([Buffer.from([0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
  const reply = await udpRaw(server.port, loop);
  assert.ok(reply, 'FORMERR expected');
  assert.is(parseMessage(reply!).header.rcode, RCode.FORMERR);
  assert.is(await udpRaw(server.port, Buffer.from([1, 2, 3])), undefined, 'a runt is dropped');
  const counts = Buffer.from([0, 9, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 0x61, 0]);
  assert.is(parseMessage((await udpRaw(server.port, counts))!).header.rcode, RCode.FORMERR);
  // A TCP message with a huge length prefix and nothing else: the connection just waits, and others still work.
  const hog = connect({ host: '127.0.0.1', port: server.port });
  hog.on('error', () => {});
  hog.write(Buffer.from([0xff, 0xff, 1, 2, 3]));
  assert.equal(await resolver().resolve4('web'), ['10.90.1.2']);
  hog.destroy();
});

test('an upstream that never answers: the next upstream is tried, and with none left the client gets SERVFAIL', async () => {
  const s2 = await startDnsServer({
    address: '127.0.0.1',
    port: 0,
    lookup: table.lookup,
    upstream: [
      { address: silent.address, port: silent.port },
      { address: up.address, port: up.port },
    ],
    timeoutMs: 300,
  });
  const s3 = await startDnsServer({
    address: '127.0.0.1',
    port: 0,
    lookup: table.lookup,
    upstream: [{ address: silent.address, port: silent.port }],
    timeoutMs: 300,
  });
  try {
    const r2 = new Resolver({ timeout: 3000, tries: 1 });
    r2.setServers([`127.0.0.1:${s2.port}`]);
    assert.equal(await r2.resolve4('www.example.test'), [FAKE_ADDRESS]);
    const r3 = new Resolver({ timeout: 3000, tries: 1 });
    r3.setServers([`127.0.0.1:${s3.port}`]);
    const started = Date.now();
    await r3.resolve4('www.example.test').then(
      () => assert.unreachable('expected SERVFAIL'),
      (err: NodeJS.ErrnoException) => assert.is(err.code, 'ESERVFAIL'),
    );
    assert.ok(Date.now() - started < 2500, 'SERVFAIL comes after the upstream timeout, before the client gives up');
  } finally {
    await s2.close();
    await s3.close();
  }
});

test('with no upstreams (--no-forward) local names answer and everything else gets SERVFAIL at once', async () => {
  const s = await startDnsServer({ address: '127.0.0.1', port: 0, lookup: table.lookup, upstream: [] });
  try {
    const r = new Resolver({ timeout: 3000, tries: 1 });
    r.setServers([`127.0.0.1:${s.port}`]);
    assert.equal(await r.resolve4('web'), ['10.90.1.2']);
    await r.resolve4('www.example.test').then(
      () => assert.unreachable('expected SERVFAIL'),
      (err: NodeJS.ErrnoException) => assert.is(err.code, 'ESERVFAIL'),
    );
  } finally {
    await s.close();
  }
});

test('a truncated upstream UDP answer is fetched again over TCP', async () => {
  const trunc = await startFakeUpstream('127.0.0.4', 'truncate');
  const s = await startDnsServer({
    address: '127.0.0.1',
    port: 0,
    lookup: table.lookup,
    upstream: [{ address: trunc.address, port: trunc.port }],
    timeoutMs: 500,
  });
  try {
    const r = new Resolver({ timeout: 3000, tries: 1 });
    r.setServers([`127.0.0.1:${s.port}`]);
    assert.equal(await r.resolve4('big.example.test'), [FAKE_ADDRESS]);
    assert.ok(trunc.tcpQueries >= 1);
  } finally {
    await s.close();
    await trunc.close();
  }
});

test('pending forwards are capped: beyond the cap the query gets SERVFAIL at once', async () => {
  const s = await startDnsServer({
    address: '127.0.0.1',
    port: 0,
    lookup: table.lookup,
    upstream: [{ address: silent.address, port: silent.port }],
    timeoutMs: 1500,
    maxPending: 1,
  });
  try {
    const q = (id: number) => buildMessage({ header: { id, rd: true }, questions: [{ name: `x${id}.example.test`, type: RRType.A, class: CLASS_IN }] });
    const first = udpRaw(s.port, q(1), 3000);
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    const second = await udpRaw(s.port, q(2), 1000);
    assert.ok(second && Date.now() - started < 500, 'answered at once');
    assert.is(parseMessage(second!).header.rcode, RCode.SERVFAIL);
    assert.is(parseMessage((await first)!).header.rcode, RCode.SERVFAIL);
  } finally {
    await s.close();
  }
});

test('binding a port that is taken fails with PORT_IN_USE', async () => {
  await startDnsServer({ address: '127.0.0.1', port: server.port, lookup: table.lookup, upstream: [] }).then(
    () => assert.unreachable('expected PORT_IN_USE'),
    (err: { code?: string }) => assert.is(err.code, 'PORT_IN_USE'),
  );
});

test.run();
