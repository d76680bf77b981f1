/**
 * User-defined networks through `kiln serve` with the real docker CLI: network create/ls/inspect/rm/connect/
 * disconnect/prune, `docker run --network NAME --network-alias --ip`; containers on one network reach each other
 * and not those on another (kiln's isolation chains), a live connect adds an interface and a disconnect removes
 * it, and after `network rm` no bridge, iptables rule, DNS directory or lease of the network is left.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServe, docker, run, type Served } from './serve-helper.js';
import { kiln } from '../../helpers/kiln-cli.js';

let s: Served;
const containers: string[] = [];
const networks: string[] = [];

test.before(async () => {
  // A pool of its own, so this test's subnets are easy to tell apart on a shared host.
  s = await startServe({ args: ['--default-address-pool', 'base=10.93.0.0/16,size=24'] });
});

test.after(async () => {
  if (containers.length) await docker(s, ['rm', '-f', ...containers]);
  for (const n of networks) await docker(s, ['network', 'rm', n]);
  await s?.stop();
});

async function ok(args: string[]): Promise<string> {
  const r = await docker(s, args, { timeoutMs: 60_000 });
  assert.is(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

async function inspectNet(name: string): Promise<any> {
  return JSON.parse(await ok(['network', 'inspect', name]))[0];
}

async function ipOn(container: string, net: string): Promise<string> {
  return ok(['inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, container]);
}

/** Pings `ip` from `container`; reachable: retried for a few seconds (ARP, a loaded machine), else one try. */
async function ping(container: string, ip: string, expectReachable: boolean): Promise<boolean> {
  const deadline = Date.now() + (expectReachable ? 10_000 : 0);
  for (;;) {
    const r = await docker(s, ['exec', container, 'ping', '-c', '1', '-W', '2', ip], { timeoutMs: 20_000 });
    if (r.code === 0) return true;
    if (Date.now() > deadline) return false;
  }
}

function iptablesSave(): string {
  return execFileSync('iptables-save', { encoding: 'utf8' });
}

test('create, ls with filters, inspect, duplicate names and predefined networks', async () => {
  const id = await ok(['network', 'create', '--label', 'kiln.test=nets', 'kn-front']);
  networks.push('kn-front');
  assert.match(id, /^[0-9a-f]{64}$/);
  const net = await inspectNet('kn-front');
  assert.is(net.Id, id);
  assert.is(net.Driver, 'bridge');
  assert.is(net.Scope, 'local');
  assert.is(net.Internal, false);
  assert.equal(net.Labels, { 'kiln.test': 'nets' });
  assert.match(net.IPAM.Config[0].Subnet, /^10\.93\.\d+\.0\/24$/);
  assert.is(net.IPAM.Config[0].Gateway, net.IPAM.Config[0].Subnet.replace(/0\/24$/, '1'));
  assert.is((await inspectNet(id.slice(0, 12))).Name, 'kn-front');
  const ls = await ok(['network', 'ls', '--format', '{{.Name}} {{.Driver}}']);
  for (const line of ['bridge bridge', 'host host', 'none null', 'kn-front bridge']) assert.ok(ls.split('\n').includes(line), ls);
  assert.is(await ok(['network', 'ls', '-q', '--no-trunc', '--filter', 'label=kiln.test=nets']), id);
  assert.is(await ok(['network', 'ls', '--format', '{{.Name}}', '--filter', 'type=custom']), 'kn-front');
  const dup = await docker(s, ['network', 'create', 'kn-front']);
  assert.is.not(dup.code, 0);
  assert.match(dup.stderr, /network with name kn-front already exists/);
  const pre = await docker(s, ['network', 'rm', 'bridge']);
  assert.match(pre.stderr, /bridge is a pre-defined network and cannot be removed/);
  const overlay = await docker(s, ['network', 'create', '--driver', 'overlay', 'kn-ov']);
  assert.match(overlay.stderr, /overlay.*not supported/);
  const v6 = await docker(s, ['network', 'create', '--ipv6', 'kn-v6']);
  assert.match(v6.stderr, /IPv6/);
  const clash = await docker(s, ['network', 'create', '--subnet', net.IPAM.Config[0].Subnet, 'kn-clash']);
  assert.match(clash.stderr, /overlaps/);
  const missing = await docker(s, ['network', 'inspect', 'kn-nosuch']);
  assert.match(missing.stderr, /network kn-nosuch not found/);
  const badFilter = await docker(s, ['network', 'ls', '--filter', 'status=x']);
  assert.match(badFilter.stderr, /invalid filter 'status'/);
});

test('containers on one network reach each other by IP and not those on another; --network-alias and --ip', async () => {
  await ok(['network', 'create', '--subnet', '172.29.71.0/24', 'kn-back']);
  networks.push('kn-back');
  for (const [name, args] of [
    ['kn-a1', ['--network', 'kn-front', '--network-alias', 'web']],
    ['kn-a2', ['--network', 'kn-front']],
    ['kn-b1', ['--network', 'kn-back', '--ip', '172.29.71.50']],
  ] as const) {
    containers.push(name);
    await ok(['run', '-d', '--name', name, ...args, 'busybox', 'sleep', '300']);
  }
  const [a1, a2, b1] = [await ipOn('kn-a1', 'kn-front'), await ipOn('kn-a2', 'kn-front'), await ipOn('kn-b1', 'kn-back')];
  assert.match(a1, /^10\.93\.\d+\.\d+$/);
  assert.is(b1, '172.29.71.50');
  const aliases = JSON.parse(await ok(['inspect', '-f', '{{json (index .NetworkSettings.Networks "kn-front").Aliases}}', 'kn-a1']));
  assert.ok(aliases.includes('web'), String(aliases));
  // The container's own network files: its address in /etc/hosts, the network's DNS server in resolv.conf.
  const hosts = await ok(['exec', 'kn-a1', 'cat', '/etc/hosts']);
  assert.match(hosts, new RegExp(`^${a1.replace(/\./g, '\\.')}\\s+kn-a1$`, 'm'));
  const gw = (await inspectNet('kn-front')).IPAM.Config[0].Gateway;
  assert.match(await ok(['exec', 'kn-a1', 'cat', '/etc/resolv.conf']), new RegExp(`^nameserver ${gw.replace(/\./g, '\\.')}$`, 'm'));
  assert.ok(await ping('kn-a2', a1, true), 'kn-a2 should reach kn-a1 on kn-front');
  assert.not.ok(await ping('kn-b1', a1, false), 'kn-b1 (kn-back) must not reach kn-a1 (kn-front)');
  assert.not.ok(await ping('kn-a1', b1, false), 'kn-a1 (kn-front) must not reach kn-b1 (kn-back)');
  const members = (await inspectNet('kn-front')).Containers;
  const byName = Object.fromEntries(Object.values(members).map((m: any) => [m.Name, m.IPv4Address]));
  assert.equal(byName, { 'kn-a1': `${a1}/24`, 'kn-a2': `${a2}/24` });
  const onBridge = await docker(s, ['run', '--rm', '--ip', '10.89.200.1', 'busybox', 'true']);
  assert.match(onBridge.stderr, /user specified IP address is supported on user defined networks only/);
  const outside = await docker(s, ['run', '--rm', '--network', 'kn-back', '--ip', '172.29.72.5', 'busybox', 'true']);
  assert.match(outside.stderr, /Invalid address 172\.29\.72\.5: It does not belong to any of this network's subnets/);
  // Refused at create: no container was left behind.
  assert.equal((await ok(['ps', '-a', '--format', '{{.Names}}'])).split('\n').sort(), ['kn-a1', 'kn-a2', 'kn-b1']);
  // A 404, as dockerd answers (the docker CLI reads any 404 from create as a missing image and tries to pull it,
  // as it does against dockerd): asked directly.
  const unknown = await fetch(`http://127.0.0.1:${s.port}/containers/create`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ Image: 'busybox', Cmd: ['true'], HostConfig: { NetworkMode: 'kn-nosuch' } }),
  });
  assert.is(unknown.status, 404);
  assert.match(((await unknown.json()) as { message: string }).message, /network kn-nosuch not found/);
});

test('connect and disconnect a running container change its interfaces now', async () => {
  await ok(['network', 'connect', '--alias', 'also', 'kn-back', 'kn-a2']);
  const a2back = await ipOn('kn-a2', 'kn-back');
  assert.match(a2back, /^172\.29\.71\.\d+$/);
  assert.match(await ok(['exec', 'kn-a2', 'ip', '-4', 'addr', 'show', 'eth1']), new RegExp(a2back.replace(/\./g, '\\.')));
  assert.ok(await ping('kn-a2', '172.29.71.50', true), 'kn-a2 should reach kn-b1 once on kn-back');
  const again = await docker(s, ['network', 'connect', 'kn-back', 'kn-a2']);
  assert.match(again.stderr, /already exists in network kn-back/);
  await ok(['network', 'disconnect', 'kn-back', 'kn-a2']);
  const gone = await docker(s, ['exec', 'kn-a2', 'ip', 'addr', 'show', 'eth1']);
  assert.is.not(gone.code, 0);
  assert.equal(await ipOn('kn-a2', 'kn-back').catch(() => ''), '');
  // A stopped container: only its record changes; it joins at its next start.
  containers.push('kn-c1');
  await ok(['create', '--name', 'kn-c1', '--network', 'kn-front', 'busybox', 'sleep', '300']);
  await ok(['network', 'connect', 'kn-back', 'kn-c1']);
  await ok(['start', 'kn-c1']);
  assert.match(await ipOn('kn-c1', 'kn-back'), /^172\.29\.71\.\d+$/);
  assert.match(await ipOn('kn-c1', 'kn-front'), /^10\.93\.\d+\.\d+$/);
});

test('rm refuses a network in use, then leaves nothing of it on the host; prune takes the unused ones', async () => {
  const net = await inspectNet('kn-back');
  const busy = await docker(s, ['network', 'rm', 'kn-back']);
  assert.match(busy.stderr, new RegExp(`error while removing network: network kn-back id ${net.Id} has active endpoints`));
  await ok(['rm', '-f', 'kn-b1', 'kn-c1']);
  const leases = `/run/kiln/ipam/${net.Id}`;
  assert.is(existsSync(leases) ? readdirSync(leases).length : 0, 0, 'address leases are freed when containers go');
  await ok(['network', 'rm', 'kn-back']);
  networks.splice(networks.indexOf('kn-back'), 1);
  const bridge = `kbr-${net.Id.slice(0, 11)}`;
  assert.not.ok(execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).includes(bridge), `${bridge} is gone`);
  const rules = iptablesSave();
  assert.not.ok(rules.includes('172.29.71.0/24'), 'no rule names the subnet');
  assert.not.ok(rules.includes(bridge), 'no rule names the bridge');
  assert.not.ok(existsSync('/run/kiln/subnets/172.29.71.0_24'), 'the subnet lease is gone');
  assert.not.ok(existsSync(`/run/kiln/dns/${net.Id}`), 'the DNS directory is gone');
  assert.not.ok(existsSync(leases));

  await ok(['network', 'create', '--label', 'kiln.test=prune', 'kn-unused']);
  const kept = await ok(['network', 'create', '--label', 'kiln.test=keep', 'kn-kept']);
  networks.push('kn-kept');
  const pruned = await ok(['network', 'prune', '-f', '--filter', 'label=kiln.test=prune']);
  assert.match(pruned, /kn-unused/);
  assert.not.match(pruned, /kn-kept|kn-front/);
  assert.is((await inspectNet('kn-kept')).Id, kept);
});

test('an internal network gives no route out and drops what would leave its bridge', async () => {
  await ok(['network', 'create', '--internal', '--subnet', '172.29.73.0/24', 'kn-int']);
  networks.push('kn-int');
  assert.is((await inspectNet('kn-int')).Internal, true);
  containers.push('kn-i1');
  await ok(['run', '-d', '--name', 'kn-i1', '--network', 'kn-int', 'busybox', 'sleep', '300']);
  assert.not.match(await ok(['exec', 'kn-i1', 'ip', 'route']), /^default/m);
  const bridge = `kbr-${(await inspectNet('kn-int')).Id.slice(0, 11)}`;
  const rules = iptablesSave();
  assert.match(rules, new RegExp(`-A KILN-NETWORKS -i ${bridge} ! -o ${bridge} -j DROP`));
  assert.not.match(rules, /172\.29\.73\.0\/24.*MASQUERADE/);
  // Even with a route added by hand, the front network stays out of reach.
  const front = await ipOn('kn-a1', 'kn-front');
  await docker(s, ['exec', 'kn-i1', 'ip', 'route', 'add', 'default', 'via', '172.29.73.1']);
  assert.not.ok(await ping('kn-i1', front, false), 'kn-i1 (internal) must not reach kn-a1');
  await ok(['rm', '-f', 'kn-i1']);
  await ok(['network', 'rm', 'kn-int']);
  networks.splice(networks.indexOf('kn-int'), 1);
});

test('network events: create, connect, disconnect, destroy, with the name and the container', async () => {
  const lines = readFileSync(join(s.root, 'events', 'events.jsonl'), 'utf8')
    .trim()
    .split('\n');
  const evs = lines.map((l) => JSON.parse(l)).filter((e) => e.Type === 'network');
  const front = evs.filter((e) => e.Actor.Attributes.name === 'kn-back');
  assert.equal([...new Set(front.map((e) => e.Action))], ['create', 'connect', 'disconnect', 'destroy']);
  const connect = front.find((e) => e.Action === 'connect');
  assert.is(connect.Actor.Attributes.type, 'bridge');
  assert.match(connect.Actor.Attributes.container, /^[0-9a-f]{64}$/);
});

test('docker-compose 1.29 up puts services on <project>_default and extra networks, down removes them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-compose-net-'));
  try {
    const proj = join(dir, 'knproj');
    execFileSync('mkdir', [proj]);
    writeFileSync(
      join(proj, 'docker-compose.yml'),
      [
        'version: "3.7"',
        'services:',
        '  web:',
        '    image: busybox',
        '    command: sleep 300',
        '  client:',
        '    image: busybox',
        '    command: sleep 300',
        '    networks: [default, extra]',
        'networks:',
        '  extra: {}',
        '',
      ].join('\n'),
    );
    const env = { DOCKER_HOST: s.host, DOCKER_CONFIG: s.dockerConfig };
    const up = await run('docker-compose', ['up', '-d'], { cwd: proj, env, timeoutMs: 120_000 });
    assert.is(up.code, 0, up.stderr);
    const client = await ipOn('knproj_client_1', 'knproj_extra');
    assert.match(client, /^10\.93\.\d+\.\d+$/);
    const aliases = JSON.parse(await ok(['inspect', '-f', '{{json (index .NetworkSettings.Networks "knproj_default").Aliases}}', 'knproj_web_1']));
    assert.ok(aliases.includes('web'), String(aliases));
    assert.ok(await ping('knproj_client_1', await ipOn('knproj_web_1', 'knproj_default'), true), 'client reaches web on the default network');
    const down = await run('docker-compose', ['down'], { cwd: proj, env, timeoutMs: 120_000 });
    assert.is(down.code, 0, down.stderr);
    assert.not.match(await ok(['network', 'ls', '--format', '{{.Name}}']), /knproj/);
  } finally {
    await run('docker-compose', ['down'], { cwd: join(dir, 'knproj'), env: { DOCKER_HOST: s.host, DOCKER_CONFIG: s.dockerConfig } });
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a network whose state root is gone is swept: bridge, rules and leases', async () => {
  const gone = mkdtempSync(join(tmpdir(), 'kiln-net-gone-'));
  const other = mkdtempSync(join(tmpdir(), 'kiln-net-other-'));
  try {
    const made = await kiln(['network', 'create', '--subnet', '172.29.90.0/24', 'kn-orphan'], { root: gone });
    assert.is(made.code, 0, made.stderr);
    const bridge = `kbr-${made.stdout.trim().slice(0, 11)}`;
    assert.ok(execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).includes(bridge));
    // kiln's own CLI: run --network NAME --ip, and its resolv.conf pointing at the network's gateway.
    assert.is((await kiln(['base', 'busybox'], { root: gone })).code, 0);
    const r = await kiln(
      ['run', '--rm', '--network', 'kn-orphan', '--ip', '172.29.90.9', 'busybox', 'sh', '-c', 'ip -4 addr show eth0; cat /etc/resolv.conf'],
      { root: gone },
    );
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /inet 172\.29\.90\.9\/24/);
    assert.match(r.stdout, /^nameserver 172\.29\.90\.1$/m);
    const onBridge = await kiln(['run', '--rm', '--network-alias', 'x', 'busybox', 'true'], { root: gone });
    assert.match(onBridge.stderr, /network-scoped alias is supported only for containers in user defined networks/);
    rmSync(gone, { recursive: true, force: true });
    // Any kiln command that runs the start-up clean-up sweeps; `network ls` does.
    const ls = await kiln(['network', 'ls'], { root: other });
    assert.is(ls.code, 0, ls.stderr);
    assert.not.ok(execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).includes(bridge), `${bridge} swept`);
    assert.not.ok(iptablesSave().includes('172.29.90.0/24'));
    assert.not.ok(existsSync('/run/kiln/subnets/172.29.90.0_24'));
  } finally {
    rmSync(gone, { recursive: true, force: true });
    rmSync(other, { recursive: true, force: true });
  }
});

test.run();
