/**
 * A build step must not reach the build host's network unless whoever started the build granted it. The canary
 * is a service on the host's loopback (127.0.0.1:<free port>) that answers with the text of a canary file and
 * logs every connection: a default RUN (kiln's bridge: its own namespace) cannot connect to it, not even through
 * the bridge's gateway; `RUN --network=host` is refused with ENTITLEMENT_DENIED naming the line and the flag;
 * with `--allow network.host` the same step reads it (the positive control: the probe works). The same locally,
 * through the resident builder, and through `kiln serve` (docker CLI and `kiln --host`), which grants host
 * networking only when started with `--allow network.host` (builds, and containers through the Engine API,
 * where `--privileged`/`--cap-add` need security.insecure). Outbound NAT from a build step is checked against a
 * namespace this test creates; no packet leaves the machine.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kiln, REPO } from '../../helpers/kiln-cli.js';
import { waitFor } from '../../helpers/wait.js';
import { docker, startServe, type Served } from '../server/serve-helper.js';

let dir = '';
let root = '';
let canaryFile = '';
let canaryMtime = 0;
let secret = '';
let server: Server | undefined;
let port = 0;
/** Connections the canary service accepted since the last reset. */
let connections = 0;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-hostile-net-'));
  root = join(dir, 'root');
  secret = `canary-${randomBytes(12).toString('hex')}`;
  canaryFile = join(dir, 'host-canary', 'secret.txt');
  await mkdir(join(dir, 'host-canary'));
  await writeFile(canaryFile, `${secret}\n`);
  canaryMtime = (await stat(canaryFile)).mtimeMs;
  server = createServer((sock) => {
    connections++;
    sock.on('error', () => {});
    sock.end(readFileSync(canaryFile));
  });
  await new Promise<void>((ok) => server!.listen(0, '127.0.0.1', ok));
  port = (server.address() as { port: number }).port;
  assert.is((await kiln(['base', 'busybox'], { root })).code, 0);
});

test.after(async () => {
  await new Promise((r) => server?.close(r));
  await rm(dir, { recursive: true, force: true });
});

/** A context whose Dockerfile probes the canary service (busybox nc: Debian's static busybox wget crashes). */
async function context(name: string, dockerfile: string): Promise<string> {
  const ctx = join(dir, name);
  await mkdir(ctx, { recursive: true });
  await writeFile(join(ctx, 'Dockerfile'), dockerfile);
  return ctx;
}

/** The probe: what the step read from `addr:port` (the canary's text when it connected), or nc's complaint. */
const probe = (addr: string) => `nc -w 3 ${addr} ${port} </dev/null > /got-${addr} 2>&1; echo "rc=$?" >> /got-${addr}`;

async function gotFrom(out: string, addr: string): Promise<string> {
  return readFile(join(out, `got-${addr}`), 'utf8');
}

function assertCanaryIntact(what: string): void {
  assert.is(connections, 0, `${what}: the host's loopback service was reached`);
}

test("a default RUN step cannot reach a service on the build host's loopback, nor through the bridge gateway", async () => {
  connections = 0;
  const ctx = await context('default', `FROM busybox\nRUN ${probe('127.0.0.1')}; ${probe('10.89.0.1')}; ls /sys/class/net > /ifaces\n`);
  const out = join(dir, 'out-default');
  const r = await kiln(['build', '--no-cache', '--output', `type=local,dest=${out}`, ctx], { root, env: { KILN_DAEMON: '0' } });
  assert.is(r.code, 0, r.stderr);
  for (const addr of ['127.0.0.1', '10.89.0.1']) {
    const got = await gotFrom(out, addr);
    assert.not.match(got, secret, `the step read the canary through ${addr}`);
    assert.match(got, /rc=[1-9]/, `nc to ${addr} failed`);
  }
  // Its own namespace: a loopback of its own and the bridge's eth0, not the host's interfaces.
  assert.equal((await readFile(join(out, 'ifaces'), 'utf8')).split('\n').filter(Boolean).sort(), ['eth0', 'lo']);
  assertCanaryIntact('default RUN');
  assert.is((await stat(canaryFile)).mtimeMs, canaryMtime);
});

test('RUN --network=host without the grant fails before running, naming the line and the flag', async () => {
  connections = 0;
  const ctx = await context('host-refused', `FROM busybox\nRUN echo first-step-ran\nRUN --network=host ${probe('127.0.0.1')}\n`);
  const r = await kiln(['build', '--no-cache', '--progress', 'plain', ctx], { root, env: { KILN_DAEMON: '0' } });
  assert.is(r.code, 5, r.stderr);
  // Refused before the build, as BuildKit checks a whole definition: the step before it never ran.
  assert.not.match(r.stderr + r.stdout, /first-step-ran\n|RUN echo first-step-ran\n#\d+ (DONE|cache miss)/);
  assert.match(r.stderr, /Dockerfile:3: RUN --network=host needs the network\.host entitlement/);
  assert.match(r.stderr, /--allow network\.host/);
  assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
  assertCanaryIntact('refused RUN --network=host');
});

test('with --allow network.host, RUN --network=host reaches the host loopback (the probe works)', async () => {
  connections = 0;
  const ctx = await context('host-granted', `FROM busybox\nRUN --network=host ${probe('127.0.0.1')}\n`);
  const out = join(dir, 'out-granted');
  const r = await kiln(['build', '--no-cache', '--allow', 'network.host', '--output', `type=local,dest=${out}`, ctx], { root, env: { KILN_DAEMON: '0' } });
  assert.is(r.code, 0, r.stderr);
  assert.match(await gotFrom(out, '127.0.0.1'), secret);
  assert.is(connections, 1);
});

test('kiln build --network host asks for host networking itself (as buildx); RUN --network=none stays none', async () => {
  connections = 0;
  const ctx = await context('cli-host', `FROM busybox\nRUN ${probe('127.0.0.1')}\nRUN --network=none ls /sys/class/net > /none-ifaces\n`);
  const out = join(dir, 'out-cli-host');
  const r = await kiln(['build', '--no-cache', '--network', 'host', '--output', `type=local,dest=${out}`, ctx], { root, env: { KILN_DAEMON: '0' } });
  assert.is(r.code, 0, r.stderr);
  assert.match(await gotFrom(out, '127.0.0.1'), secret);
  assert.equal((await readFile(join(out, 'none-ifaces'), 'utf8')).trim(), 'lo');
});

test('a granted host step and a default step are different cache entries', async () => {
  connections = 0;
  const df = (flag: string) => `FROM busybox\nRUN ${flag}${probe('127.0.0.1')}\n`;
  const host = await kiln(['build', '--no-cache', '--allow', 'network.host', await context('key-host', df('--network=host '))], {
    root,
    env: { KILN_DAEMON: '0' },
  });
  assert.is(host.code, 0, host.stderr);
  const out = join(dir, 'out-key');
  // Same command on the default network: must run again (isolated), not reuse the host step's result.
  const dflt = await kiln(['build', '--output', `type=local,dest=${out}`, await context('key-default', df(''))], { root, env: { KILN_DAEMON: '0' } });
  assert.is(dflt.code, 0, dflt.stderr);
  assert.not.match(await gotFrom(out, '127.0.0.1'), secret);
  assert.is(connections, 1, 'only the granted step connected');
});

test('a RUN namespace serves another step only if the step could not change it; none outlives the build', async () => {
  // Step 2 takes step 1's pooled namespace; with every capability it adds an address there. Step 3 must get a
  // clean namespace (the insecure step's is deleted, not pooled), and a sandboxed step cannot change its own.
  const ctx = await context(
    'pool',
    [
      'FROM busybox',
      'RUN echo one > /one',
      'RUN --security=insecure ip addr add 10.250.0.1/32 dev lo && ip -o addr show dev lo | grep -q 10.250.0.1',
      'RUN ip -o addr show dev lo > /lo-after; ip addr add 10.250.0.2/32 dev lo 2>/dev/null; echo "rc=$?" > /add-rc',
      '',
    ].join('\n'),
  );
  const out = join(dir, 'out-pool');
  const r = await kiln(['build', '--no-cache', '--allow', 'security.insecure', '--output', `type=local,dest=${out}`, ctx], { root, env: { KILN_DAEMON: '0' } });
  assert.is(r.code, 0, r.stderr);
  assert.not.match(await readFile(join(out, 'lo-after'), 'utf8'), '10.250.0.1', "a later step saw the insecure step's change");
  assert.match(await readFile(join(out, 'lo-after'), 'utf8'), '127.0.0.1');
  assert.match(await readFile(join(out, 'add-rc'), 'utf8'), /rc=[1-9]/, 'a sandboxed step changed its namespace');
  // The build process is gone: so are its pooled namespaces and address leases.
  const leases = readdirSync('/run/kiln/leases').map((n) => {
    try {
      return JSON.parse(readFileSync(join('/run/kiln/leases', n), 'utf8'));
    } catch {
      return {};
    }
  });
  assert.equal(
    leases.filter((l) => l.root === root),
    [],
    'leases of the finished build remain',
  );
});

test('through the resident builder: the same refusal and isolation', async () => {
  connections = 0;
  const bin = join(REPO, 'bin/kiln.js');
  const env: NodeJS.ProcessEnv = { ...process.env, KILN_DAEMON_IDLE_SECONDS: '60' };
  delete env.KILN_DAEMON;
  const droot = join(dir, 'daemon-root');
  const run = (args: string[]) =>
    new Promise<{ code: number; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [bin, '--root', droot, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      child.on('close', (code) => resolve({ code: code ?? 128, stderr }));
    });
  const served = () =>
    (existsSync(join(droot, 'daemon'))
      ? readdirSync(join(droot, 'daemon'))
          .filter((n) => n.endsWith('.log'))
          .map((n) => readFileSync(join(droot, 'daemon', n), 'utf8'))
          .join('')
      : ''
    ).split('served a build').length - 1;
  try {
    assert.is((await run(['base', 'busybox'])).code, 0);
    const first = await run(['build', await context('d-first', 'FROM busybox\nRUN echo warm\n')]);
    assert.is(first.code, 0, first.stderr);
    await waitFor(
      'the resident builder',
      () => existsSync(join(droot, 'daemon')) && readdirSync(join(droot, 'daemon')).some((n) => n.endsWith('.sock')),
      30_000,
    );
    const before = served();
    const refused = await run(['build', await context('d-host', `FROM busybox\nRUN --network=host ${probe('127.0.0.1')}\n`)]);
    assert.is(refused.code, 5, refused.stderr);
    assert.match(refused.stderr, /Dockerfile:2: RUN --network=host needs the network\.host entitlement/);
    const out = join(dir, 'out-daemon');
    const dflt = await run(['build', '--output', `type=local,dest=${out}`, await context('d-default', `FROM busybox\nRUN ${probe('127.0.0.1')}\n`)]);
    assert.is(dflt.code, 0, dflt.stderr);
    assert.not.match(await gotFrom(out, '127.0.0.1'), secret);
    await waitFor('the daemon to log its builds', () => served() >= before + 2, 10_000);
    assertCanaryIntact('builds through the resident builder');
  } finally {
    await run(['daemon', 'stop']);
    await rm(droot, { recursive: true, force: true });
  }
});

test('kiln serve without --allow: docker build --network host and RUN --network=host are refused; default RUN is isolated', async () => {
  connections = 0;
  const s: Served = await startServe();
  try {
    const ctx = await context('srv-default', `FROM busybox\nRUN ${probe('127.0.0.1')} && cat /got-127.0.0.1\n`);
    const ok = await docker(s, ['build', '--no-cache', ctx]);
    assert.is(ok.code, 0, ok.stderr);
    assert.not.match(ok.stdout, secret);
    assert.match(ok.stdout, /rc=[1-9]/);

    const netHost = await docker(s, ['build', '--network', 'host', ctx]);
    assert.is.not(netHost.code, 0);
    assert.match(netHost.stderr + netHost.stdout, /networkmode=host .*not allowed by this server.*kiln serve --allow network\.host/s);

    const runHost = await docker(s, ['build', await context('srv-run-host', `FROM busybox\nRUN --network=host ${probe('127.0.0.1')}\n`)]);
    assert.is.not(runHost.code, 0);
    assert.match(runHost.stderr + runHost.stdout, /Dockerfile:2: RUN --network=host needs the network\.host entitlement.*kiln serve --allow network\.host/s);

    const remote = await kiln([
      '--host',
      s.host,
      'build',
      '--allow',
      'network.host',
      await context('srv-remote', `FROM busybox\nRUN --network=host ${probe('127.0.0.1')}\n`),
    ]);
    assert.is(remote.code, 5, remote.stderr);
    assert.match(remote.stderr, /not allowed by this server/);
    assert.match(remote.stderr, /kiln serve --allow network\.host/);

    // Containers through the Engine API: host networking and a lifted sandbox need the same grants.
    const runHostNet = await docker(s, ['run', '--rm', '--network', 'host', 'busybox', 'sh', '-c', `nc -w 3 127.0.0.1 ${port} </dev/null`]);
    assert.is.not(runHostNet.code, 0);
    assert.match(runHostNet.stderr, /--network host\) needs the network\.host entitlement.*kiln serve --allow network\.host/s);
    const runPriv = await docker(s, ['run', '--rm', '--privileged', 'busybox', 'true']);
    assert.is.not(runPriv.code, 0);
    assert.match(runPriv.stderr, /--privileged\) needs the security\.insecure entitlement/);
    const runDefault = await docker(s, ['run', '--rm', 'busybox', 'sh', '-c', `nc -w 3 127.0.0.1 ${port} </dev/null; echo rc=$?`]);
    assert.is(runDefault.code, 0, runDefault.stderr);
    assert.not.match(runDefault.stdout, secret);
    assertCanaryIntact('builds and containers through kiln serve without --allow');
  } finally {
    await s.stop();
  }
});

test('kiln serve --allow network.host: granted only to builds that ask for it', async () => {
  connections = 0;
  const s: Served = await startServe({ args: ['--allow', 'network.host'] });
  try {
    const asked = await docker(s, [
      'build',
      '--no-cache',
      '--network',
      'host',
      await context('srv2-net', `FROM busybox\nRUN ${probe('127.0.0.1')} && cat /got-127.0.0.1\n`),
    ]);
    assert.is(asked.code, 0, asked.stderr);
    assert.match(asked.stdout, secret);
    assert.is(connections, 1);

    const runHost = await context('srv2-run', `FROM busybox\nRUN --network=host ${probe('127.0.0.1')} && cat /got-127.0.0.1\n`);
    const notAsked = await docker(s, ['build', runHost]);
    assert.is.not(notAsked.code, 0);
    assert.match(notAsked.stderr + notAsked.stdout, /Dockerfile:2: RUN --network=host needs the network\.host entitlement.*docker build --network host/s);
    assert.is(connections, 1);

    const remote = await kiln(['--host', s.host, 'build', '--no-cache', '--allow', 'network.host', '--progress', 'plain', runHost]);
    assert.is(remote.code, 0, remote.stderr);
    assert.match(remote.stderr, secret);
    assert.is(connections, 2);

    const runHostNet = await docker(s, ['run', '--rm', '--network', 'host', 'busybox', 'sh', '-c', `nc -w 3 127.0.0.1 ${port} </dev/null`]);
    assert.is(runHostNet.code, 0, runHostNet.stderr);
    assert.match(runHostNet.stdout, secret);
    // network.host does not lift the sandbox.
    assert.match((await docker(s, ['run', '--rm', '--cap-add', 'NET_ADMIN', 'busybox', 'true'])).stderr, /security\.insecure/);
  } finally {
    await s.stop();
  }
});

test("outbound NAT from a default RUN step reaches a namespace the test made, as the host's address", async () => {
  const tag = randomBytes(3).toString('hex');
  const ns = `kiln-test-bout-${tag}`;
  const hostIf = `kbo${tag}`;
  const nsIf = `kbi${tag}`;
  const octet = 150 + (parseInt(tag.slice(0, 2), 16) % 40);
  const hostIp = `10.202.${octet}.1`;
  const outsideIp = `10.202.${octet}.2`;
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let httpd: ChildProcess | undefined;
  try {
    ip('netns', 'add', ns);
    ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
    ip('link', 'set', nsIf, 'netns', ns);
    ip('addr', 'add', `${hostIp}/30`, 'dev', hostIf);
    ip('link', 'set', hostIf, 'up');
    ip('-n', ns, 'addr', 'add', `${outsideIp}/30`, 'dev', nsIf);
    ip('-n', ns, 'link', 'set', nsIf, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    const www = join(dir, 'www');
    await mkdir(join(www, 'cgi-bin'), { recursive: true });
    await writeFile(join(www, 'cgi-bin', 'from'), '#!/bin/sh\necho "Content-Type: text/plain"\necho\necho "from=$REMOTE_ADDR"\n');
    await chmod(join(www, 'cgi-bin', 'from'), 0o755);
    httpd = spawn('ip', ['netns', 'exec', ns, 'busybox', 'httpd', '-f', '-p', `${outsideIp}:8080`, '-h', www], { stdio: 'ignore' });
    // Retried in the step: httpd may still be starting.
    const ctx = await context(
      'nat',
      `FROM busybox\nRUN for i in 1 2 3 4 5 6 7 8 9 10; do printf 'GET /cgi-bin/from HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${outsideIp} 8080 > /answer && grep -q from= /answer && break; sleep 0.3; done; cat /answer\n`,
    );
    const out = join(dir, 'out-nat');
    const r = await kiln(['build', '--no-cache', '--output', `type=local,dest=${out}`, ctx], { root, env: { KILN_DAEMON: '0' } });
    assert.is(r.code, 0, r.stderr);
    const answer = await readFile(join(out, 'answer'), 'utf8');
    assert.match(answer, `from=${hostIp}`, "the server saw the host's address (masqueraded), not the step's 10.89.x.x");
  } finally {
    httpd?.kill('SIGKILL');
    try {
      ip('link', 'del', hostIf);
    } catch {
      /* gone with the namespace */
    }
    try {
      ip('netns', 'del', ns);
    } catch {
      /* never made */
    }
  }
});

test.run();
