/**
 * Name resolution on user-defined networks through `kiln serve` with the real docker CLI: a container finds
 * another on its network by container name, short id and --network-alias (the network's embedded DNS server,
 * src/networks/dns/dns-main.ts, on the gateway), and does not find one on another network.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startServe, docker, type Served } from './serve-helper.js';

const DNS_MAIN = fileURLToPath(new URL('../../../src/networks/dns/dns-main.ts', import.meta.url));
let s: Served | undefined;
const containers = ['kd-web', 'kd-client', 'kd-other'];

test.after(async () => {
  if (!s) return;
  await docker(s, ['rm', '-f', ...containers]);
  await docker(s, ['network', 'rm', 'kd-net', 'kd-far']);
  await s.stop();
});

async function ok(args: string[]): Promise<string> {
  const r = await docker(s!, args, { timeoutMs: 60_000 });
  assert.is(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

/** `nslookup NAME` in `container`, retried while the DNS server starts; the address it answers, or undefined. */
async function lookup(container: string, name: string, expectFound: boolean): Promise<string | undefined> {
  const deadline = Date.now() + (expectFound ? 10_000 : 0);
  for (;;) {
    const r = await docker(s!, ['exec', container, 'nslookup', name], { timeoutMs: 20_000 });
    const addr = /Name:\s+\S+\s+Address(?: \d+)?:\s+([\d.]+)/.exec(r.stdout)?.[1];
    if (addr) return addr;
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, 300));
  }
}

test('names, short ids and aliases resolve within a network and not across networks', async () => {
  // Not a skip: without the server no name resolves, and that is a failure of this checkout (checked in the test:
  // uvu reports no message for a failing before hook).
  assert.ok(existsSync(DNS_MAIN), `${DNS_MAIN} is missing: names on user-defined networks need the embedded DNS server`);
  s = await startServe({ args: ['--default-address-pool', 'base=10.94.0.0/16,size=24'] });
  await ok(['network', 'create', 'kd-net']);
  await ok(['network', 'create', 'kd-far']);
  const id = await ok(['run', '-d', '--name', 'kd-web', '--network', 'kd-net', '--network-alias', 'www', 'busybox', 'sleep', '300']);
  await ok(['run', '-d', '--name', 'kd-client', '--network', 'kd-net', 'busybox', 'sleep', '300']);
  await ok(['run', '-d', '--name', 'kd-other', '--network', 'kd-far', 'busybox', 'sleep', '300']);
  const ip = await ok(['inspect', '-f', '{{(index .NetworkSettings.Networks "kd-net").IPAddress}}', 'kd-web']);
  assert.is(await lookup('kd-client', 'kd-web', true), ip);
  assert.is(await lookup('kd-client', 'www', true), ip);
  assert.is(await lookup('kd-client', id.slice(0, 12), true), ip);
  const ping = await docker(s!, ['exec', 'kd-client', 'ping', '-c', '1', '-W', '2', 'www'], { timeoutMs: 20_000 });
  assert.is(ping.code, 0, ping.stdout + ping.stderr);
  assert.is(await lookup('kd-other', 'kd-web', false), undefined, 'a container on another network does not resolve kd-web');
});

test.run();
