import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decide } from '../../../src/networks/dns/answer.js';
import { parseDnsMainArgs } from '../../../src/networks/dns/dns-args.js';
import { buildNameTable, createRecordsTable, readRecordsDir } from '../../../src/networks/dns/records.js';
import { parseResolvConf, parseUpstream } from '../../../src/networks/dns/resolv-conf.js';
import { buildMessage, CLASS_IN, parseMessage, RCode, RRType } from '../../../src/networks/dns/wire.js';
import { throwsCode } from '../../helpers/assert.js';

const write = async (dir: string, id: string, body: unknown) => {
  await writeFile(join(dir, `.${id}.tmp`), typeof body === 'string' ? body : JSON.stringify(body));
  await rename(join(dir, `.${id}.tmp`), join(dir, `${id}.json`));
};

test('readRecordsDir() reads valid records and skips junk, symlinks, FIFOs and temp files', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-dns-rec-'));
  try {
    await write(dir, 'c1', { names: ['web', 'c1'], ipv4: '10.90.1.2' });
    await write(dir, 'bad', '{not json');
    await write(dir, 'noip', { names: ['x'], ipv4: 'nope' });
    await writeFile(join(dir, 'outside.json'), JSON.stringify({ names: ['evil'], ipv4: '10.90.1.66' }));
    await rename(join(dir, 'outside.json'), join(tmpdir(), `kiln-dns-outside-${process.pid}.json`));
    await symlink(join(tmpdir(), `kiln-dns-outside-${process.pid}.json`), join(dir, 'link.json'));
    execFileSync('mkfifo', [join(dir, 'fifo.json')]);
    await writeFile(join(dir, '.c9.tmp'), JSON.stringify({ names: ['half'], ipv4: '10.90.1.9' }));
    const recs = readRecordsDir(dir);
    assert.equal(recs, [{ id: 'c1', names: ['web', 'c1'], ipv4: '10.90.1.2' }]);
  } finally {
    await rm(dir, { recursive: true, force: true });
    await rm(join(tmpdir(), `kiln-dns-outside-${process.pid}.json`), { force: true });
  }
});

test('buildNameTable(): aliases map to every address, case and trailing dot do not matter, search suffixes strip', () => {
  const t = buildNameTable(
    [
      { id: 'a', names: ['Web', 'a'], ipv4: '10.90.1.2' },
      { id: 'b', names: ['db', 'web'], ipv4: '10.90.1.3' },
    ],
    { search: ['corp.example'] },
  );
  assert.equal(t.lookup('web'), ['10.90.1.2', '10.90.1.3']);
  assert.equal(t.lookup('WEB.'), ['10.90.1.2', '10.90.1.3']);
  assert.equal(t.lookup('db.corp.example'), ['10.90.1.3']);
  assert.is(t.lookup('db.other.example'), undefined);
  assert.is(t.lookup('corp.example'), undefined);
  assert.is(t.reverse('10.90.1.2'), 'Web');
  assert.is(t.reverse('10.90.1.9'), undefined);
});

test('createRecordsTable() sees files added and removed at once, and exists() turns false when the dir goes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-dns-rec-'));
  const t = createRecordsTable(dir);
  assert.is(t.lookup('web'), undefined);
  await write(dir, 'c1', { names: ['web'], ipv4: '10.90.1.2' });
  assert.equal(t.lookup('web'), ['10.90.1.2']);
  await write(dir, 'c2', { names: ['web'], ipv4: '10.90.1.3' });
  assert.equal(t.lookup('web'), ['10.90.1.2', '10.90.1.3']);
  await rm(join(dir, 'c1.json'));
  assert.equal(t.lookup('web'), ['10.90.1.3']);
  assert.ok(t.exists());
  await rm(dir, { recursive: true });
  assert.not.ok(t.exists());
});

const query = (name: string, type: number, extra: Partial<{ qr: boolean; opcode: number }> = {}) =>
  buildMessage({ header: { id: 4242, rd: true, ...extra }, questions: [{ name, type, class: CLASS_IN }] });
const names = {
  lookup: (n: string) => (n.toLowerCase() === 'web' ? ['10.90.1.2'] : undefined),
  reverse: (ip: string) => (ip === '10.90.1.2' ? 'web' : undefined),
};

test('decide(): local A, empty AAAA, PTR; unknown names forward', () => {
  const a = decide(query('Web', RRType.A), names, 'udp');
  assert.is(a.kind, 'reply');
  const msg = parseMessage((a as { packet: Buffer }).packet);
  assert.is(msg.header.id, 4242);
  assert.is(msg.answers[0]!.ttl, 600);
  assert.is(msg.answers[0]!.name, 'Web', 'the answer echoes the name as asked');
  const aaaa = parseMessage((decide(query('web', RRType.AAAA), names, 'udp') as { packet: Buffer }).packet);
  assert.is(aaaa.header.rcode, RCode.NOERROR);
  assert.is(aaaa.answers.length, 0);
  assert.is(decide(query('web', RRType.MX), names, 'udp').kind, 'forward');
  assert.is(decide(query('other', RRType.A), names, 'udp').kind, 'forward');
  assert.is(decide(query('9.1.90.10.in-addr.arpa', RRType.PTR), names, 'udp').kind, 'forward');
});

test('decide(): many addresses over UDP keep what fits in 512 bytes and set TC; TCP gets them all', () => {
  const many = { lookup: () => Array.from({ length: 60 }, (_, i) => `10.90.2.${i + 1}`) };
  const udp = parseMessage((decide(query('web', RRType.A), many, 'udp') as { packet: Buffer }).packet);
  assert.ok(udp.header.tc);
  assert.ok(udp.answers.length > 0 && udp.answers.length < 60);
  const tcp = parseMessage((decide(query('web', RRType.A), many, 'tcp') as { packet: Buffer }).packet);
  assert.not.ok(tcp.header.tc);
  assert.is(tcp.answers.length, 60);
});

test('decide(): responses and runts are dropped, garbage gets FORMERR, other opcodes NOTIMP', () => {
  assert.is(decide(query('web', RRType.A, { qr: true }), names, 'udp').kind, 'drop');
  assert.is(decide(Buffer.alloc(5), names, 'udp').kind, 'drop');
  const loop = Buffer.concat([Buffer.from([0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
  const formerr = decide(loop, names, 'udp') as { packet: Buffer };
  assert.is(parseMessage(formerr.packet).header.rcode, RCode.FORMERR);
  assert.is(parseMessage(formerr.packet).header.id, 7);
  const two = buildMessage({
    header: { id: 1 },
    questions: [
      { name: 'a', type: 1, class: 1 },
      { name: 'b', type: 1, class: 1 },
    ],
  });
  assert.is(parseMessage((decide(two, names, 'udp') as { packet: Buffer }).packet).header.rcode, RCode.FORMERR);
  const notify = decide(query('web', RRType.A, { opcode: 4 }), names, 'udp') as { packet: Buffer };
  assert.is(parseMessage(notify.packet).header.rcode, RCode.NOTIMP);
});

test('resolv.conf, upstream specs and the command line parse as documented', () => {
  assert.equal(parseResolvConf('# c\nnameserver 127.0.0.53\nnameserver ::1 ; x\nsearch Corp.Example. lab\noptions edns0\n'), {
    nameservers: ['127.0.0.53', '::1'],
    search: ['corp.example', 'lab'],
  });
  assert.equal(parseUpstream('10.0.0.1'), { address: '10.0.0.1', port: 53 });
  assert.equal(parseUpstream('10.0.0.1:5353'), { address: '10.0.0.1', port: 5353 });
  assert.equal(parseUpstream('[::1]:54'), { address: '::1', port: 54 });
  assert.equal(parseUpstream('fe80::1'), { address: 'fe80::1', port: 53 });
  assert.is(parseUpstream('example.com'), undefined);
  assert.is(parseUpstream('10.0.0.1:0'), undefined);
  assert.equal(parseDnsMainArgs(['--listen', '10.90.1.1', '--records-dir', '/x/records', '--upstream', '1.1.1.1', '--upstream', '9.9.9.9:53']), {
    listen: '10.90.1.1',
    port: 53,
    recordsDir: '/x/records',
    upstream: [
      { address: '1.1.1.1', port: 53 },
      { address: '9.9.9.9', port: 53 },
    ],
  });
  throwsCode(() => parseDnsMainArgs(['--listen', 'web', '--records-dir', '/x']), 'INVALID_ARGUMENT', /--listen web/);
  throwsCode(() => parseDnsMainArgs(['--listen', '10.0.0.1']), 'INVALID_ARGUMENT', /--records-dir is required/);
  throwsCode(() => parseDnsMainArgs(['--listen', '10.0.0.1', '--records-dir', '/x', '--port', '70000']), 'INVALID_ARGUMENT', /--port/);
  throwsCode(() => parseDnsMainArgs(['--listen', '10.0.0.1', '--records-dir', '/x', '--upstream', 'dns.google']), 'INVALID_ARGUMENT', /--upstream/);
  throwsCode(() => parseDnsMainArgs(['--bogus', '1']), 'INVALID_ARGUMENT', /unknown argument --bogus/);
  throwsCode(() => parseDnsMainArgs(['--listen']), 'INVALID_ARGUMENT', /--listen needs a value/);
  assert.equal(parseDnsMainArgs(['--listen', '10.0.0.1', '--records-dir', '/x', '--no-forward']).upstream, []);
  assert.is(parseDnsMainArgs(['--listen', '10.0.0.1', '--records-dir', '/x']).upstream, undefined);
  throwsCode(() => parseDnsMainArgs(['--listen', '10.0.0.1', '--records-dir', '/x', '--no-forward', '--upstream', '1.1.1.1']), 'INVALID_ARGUMENT', /exclude/);
});

test.run();
