import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../helpers/registry.js';
import { waitFor } from '../../helpers/wait.js';
import { FAKE_ADDRESS, startFakeUpstream } from './dns-fake-upstream.js';

const ENTRY = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src/networks/dns/dns-main.ts');

function spawnDns(args: string[]): { child: ChildProcess; stderr: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c) => (err += c));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, stderr: () => err, exited };
}

test('dns-main serves the records dir, follows its changes, writes its pid and exits when the dir goes', async () => {
  const net = await mkdtemp(join(tmpdir(), 'kiln-dns-main-'));
  const records = join(net, 'records');
  await mkdir(records);
  const up = await startFakeUpstream('127.0.0.5', 'answer');
  const port = await freePort();
  const dns = spawnDns(['--listen', '127.0.0.1', '--port', String(port), '--records-dir', records, '--upstream', `${up.address}:${up.port}`]);
  try {
    const pidFile = join(net, 'dns.pid');
    await waitFor('dns.pid', () => existsSync(pidFile), 15_000).catch((e) => {
      throw new Error(`${(e as Error).message}; stderr: ${dns.stderr()}`);
    });
    assert.is((await readFile(pidFile, 'utf8')).trim(), String(dns.child.pid));
    const r = new Resolver({ timeout: 2000, tries: 1 });
    r.setServers([`127.0.0.1:${port}`]);
    assert.equal(await r.resolve4('web'), [FAKE_ADDRESS], 'unknown yet: forwarded');
    const put = async (id: string, body: unknown) => {
      await writeFile(join(records, `.${id}.tmp`), JSON.stringify(body));
      await rename(join(records, `.${id}.tmp`), join(records, `${id}.json`));
    };
    await put('c1', { names: ['web', 'c1'], ipv4: '10.90.1.2' });
    assert.equal(await r.resolve4('web'), ['10.90.1.2']);
    await put('c2', { names: ['api', 'web'], ipv4: '10.90.1.3' });
    assert.equal((await r.resolve4('web')).sort(), ['10.90.1.2', '10.90.1.3']);
    assert.equal(await r.reverse('10.90.1.3'), ['api']);
    await rm(join(records, 'c1.json'));
    assert.equal(await r.resolve4('web'), ['10.90.1.3']);
    await rm(join(records, 'c2.json'));
    assert.equal(await r.resolve4('web'), [FAKE_ADDRESS]);
    await rm(records, { recursive: true });
    const code = await Promise.race([dns.exited, new Promise<'late'>((r) => setTimeout(() => r('late'), 3000))]);
    assert.is(code, 0, 'exits by itself within 3 s of its records dir being removed');
    assert.not.ok(existsSync(pidFile), 'its pid file is removed');
  } finally {
    if (dns.child.exitCode === null) dns.child.kill('SIGKILL');
    await up.close();
    await rm(net, { recursive: true, force: true });
  }
});

test('dns-main stops on SIGTERM, removing its pid file', async () => {
  const net = await mkdtemp(join(tmpdir(), 'kiln-dns-main-'));
  await mkdir(join(net, 'records'));
  const dns = spawnDns(['--listen', '127.0.0.1', '--port', String(await freePort()), '--records-dir', join(net, 'records'), '--upstream', '127.0.0.9']);
  try {
    await waitFor('dns.pid', () => existsSync(join(net, 'dns.pid')), 15_000);
    dns.child.kill('SIGTERM');
    assert.is(await dns.exited, 0);
    assert.not.ok(existsSync(join(net, 'dns.pid')));
  } finally {
    if (dns.child.exitCode === null) dns.child.kill('SIGKILL');
    await rm(net, { recursive: true, force: true });
  }
});

test('dns-main refuses bad arguments with a message naming the flag and exit status 2', async () => {
  const dns = spawnDns(['--listen', 'not-an-ip', '--records-dir', '/nonexistent']);
  assert.is(await dns.exited, 2);
  assert.match(dns.stderr(), /--listen not-an-ip/);
  assert.not.match(dns.stderr(), /at .*\.ts/, 'no stack trace');
  const missing = spawnDns(['--listen', '127.0.0.1', '--port', '0', '--records-dir', join(tmpdir(), `kiln-dns-none-${process.pid}`)]);
  assert.is(await missing.exited, 2);
  assert.match(missing.stderr(), /--records-dir .*not a directory/);
});

test.run();
