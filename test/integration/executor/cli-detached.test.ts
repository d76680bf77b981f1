/** Detached containers seen from other kiln processes: run -d, ps, logs, exec, stop, rm, and a published port. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupStale } from '../../../src/sandbox/cleanup.js';
import { mountsUnder } from '../../../src/sandbox/mount.js';
import { kiln } from '../../helpers/kiln-cli.js';

let dir = '';
let root = '';
const k = (args: string[]) => kiln(args, { root });

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-cli-detached-'));
  root = join(dir, 'root');
  assert.is((await k(['base', 'busybox'])).code, 0);
});

test.after(async () => {
  for (const id of (await k(['ps', '-aq'])).stdout.split('\n').filter(Boolean)) await k(['rm', '-f', id]);
  await cleanupStale(root);
  await rm(dir, { recursive: true, force: true });
});

test('run -d -p 18080:80 serves HTTP on 127.0.0.1:18080 from busybox httpd', async () => {
  const r = await k([
    'run',
    '-d',
    '--name',
    'web',
    '-p',
    '18080:80',
    'busybox',
    'sh',
    '-c',
    'mkdir -p /www && echo "hello from kiln" > /www/index.html && exec httpd -f -p 80 -h /www',
  ]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^[0-9a-f]{64}\n$/);
  let body = '';
  for (let i = 0; i < 50 && !body; i++) {
    body = await fetch('http://127.0.0.1:18080/index.html').then(
      (res) => res.text(),
      () => '',
    );
    if (!body) await new Promise((res) => setTimeout(res, 100));
  }
  assert.is(body, 'hello from kiln\n');
  // Another container reaches it by its address on kiln0.
  const { readFile } = await import('node:fs/promises');
  const state = JSON.parse(await readFile(join(root, 'containers', r.stdout.trim(), 'state.json'), 'utf8'));
  assert.match(state.ip, /^10\.89\./);
  const peer = await k(['run', '--rm', 'busybox', 'wget', '-qO-', `http://${state.ip}/index.html`]);
  assert.is(peer.stdout, 'hello from kiln\n', peer.stderr);
  const ps = await k(['ps']);
  assert.match(ps.stdout, /CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES/);
  assert.match(ps.stdout, new RegExp(`${r.stdout.slice(0, 12)}\\s+busybox\\s+.*Up .*0\\.0\\.0\\.0:18080->80/tcp\\s+web`));
  assert.is((await k(['rm', '-f', 'web'])).code, 0);
  const after = await fetch('http://127.0.0.1:18080/').then(
    () => 'answered',
    () => 'refused',
  );
  assert.is(after, 'refused', 'the proxy goes with the container');
});

test('logs, logs -f, exec, stop and rm work from other kiln processes', async () => {
  const r = await k([
    'run',
    '-d',
    '--name',
    'worker',
    'busybox',
    'sh',
    '-c',
    'echo started; echo warn >&2; trap "echo stopping; exit 0" TERM; while true; do sleep 0.1; done',
  ]);
  assert.is(r.code, 0, r.stderr);
  let logs = await k(['logs', 'worker']);
  for (let i = 0; i < 30 && !logs.stdout.includes('started'); i++) logs = await k(['logs', 'worker']);
  assert.is(logs.stdout, 'started\n');
  assert.is(logs.stderr, 'warn\n');

  const ex = await k(['exec', '-e', 'X=1', '-u', 'guest', '-w', '/tmp', 'worker', 'sh', '-c', 'echo "$X $(id -un) $(pwd)"; exit 5']);
  assert.is(ex.stdout, '1 guest /tmp\n');
  assert.is(ex.code, 5);
  const missing = await k(['exec', 'worker', 'no-such-cmd']);
  assert.is(missing.code, 127);

  const follow = k(['logs', '-f', 'worker']);
  const rm1 = await k(['rm', 'worker']);
  assert.is(rm1.code, 5, 'a running container needs -f');
  const stop = await k(['stop', 'worker']);
  assert.is(stop.code, 0, stop.stderr);
  const followed = await follow;
  assert.is(followed.code, 0);
  assert.match(followed.stdout, /started\n[\s\S]*stopping\n$/, 'logs -f ends when the container exits');

  const ps = await k(['ps', '-a']);
  assert.match(ps.stdout, /Exited \(0\).*worker/);
  assert.not.match((await k(['ps'])).stdout, /worker/);
  assert.is((await k(['exec', 'worker', 'true'])).code, 5, 'exec needs a running container');
  assert.is((await k(['rm', 'worker'])).code, 0);
  assert.is((await k(['logs', 'worker'])).code, 3);
  assert.equal(await readdir(join(root, 'containers')), []);
  assert.equal(await mountsUnder(root), []);
});

test("stop sends the image's STOPSIGNAL first", async () => {
  const { openRoot } = await import('../../../src/cache/root.js');
  const store = await openRoot(root);
  const base = await store.images.resolve('busybox');
  await store.images.writeImage({
    config: { ...base.config, config: { ...base.config.config, StopSignal: 'SIGUSR1' } },
    layers: base.manifest.layers,
    tags: ['usr1:latest'],
  });
  await store.close();
  const r = await k(['run', '-d', '--name', 'usr1', 'usr1', 'sh', '-c', 'trap "exit 11" USR1; trap "exit 22" TERM; while true; do sleep 0.1; done']);
  assert.is(r.code, 0, r.stderr);
  await new Promise((res) => setTimeout(res, 300));
  assert.is((await k(['stop', 'usr1'])).code, 0);
  assert.match((await k(['ps', '-a'])).stdout, /Exited \(11\).*usr1/);
  await k(['rm', 'usr1']);
});

test('run -d --rm removes the container when it exits', async () => {
  const r = await k(['run', '-d', '--rm', 'busybox', 'sleep', '0.3']);
  assert.is(r.code, 0);
  let left = ['x'];
  for (let i = 0; i < 50 && left.length; i++) {
    await new Promise((res) => setTimeout(res, 100));
    left = await readdir(join(root, 'containers')).catch(() => []);
  }
  assert.equal(left, []);
});

test('run -d of a missing command fails like the foreground run and leaves nothing', async () => {
  const r = await k(['run', '-d', 'busybox', 'no-such-command']);
  assert.is(r.code, 127);
  assert.match(r.stderr, /executable file not found/);
  assert.equal(await readdir(join(root, 'containers')), []);
});

test('run -d -t gives the process a terminal that kiln relays to the log, and its exit code', async () => {
  // Without a terminal of its own to hand over, kiln runs runc under the tty shim (native/tty-shim.c).
  const r = await k(['run', '-d', '-t', 'busybox', 'sh', '-c', 'tty; echo to-stderr >&2; exit 7']);
  assert.is(r.code, 0, r.stderr);
  const id = r.stdout.trim();
  let logs = '';
  for (let i = 0; i < 100 && !logs.includes('to-stderr'); i++) {
    await new Promise((res) => setTimeout(res, 100));
    logs = (await k(['logs', id])).stdout;
  }
  assert.match(logs, /^\/dev\/pts\/\d+\r\nto-stderr\r\n/, 'one terminal: stdout and stderr together, with \\r\\n');
  let inspect = '';
  for (let i = 0; i < 100 && !/Exited \(/.test(inspect); i++) {
    await new Promise((res) => setTimeout(res, 100));
    inspect = (await k(['ps', '-a'])).stdout;
  }
  assert.match(inspect, /Exited \(7\)/);
  assert.is((await k(['rm', id])).code, 0);
  // kiln exec -t from a script: the same relay.
  const bg = (await k(['run', '-d', 'busybox', 'sleep', '60'])).stdout.trim();
  const e = await k(['exec', '-t', bg, 'sh', '-c', 'tty; exit 2']);
  assert.is(e.code, 2, e.stderr);
  assert.match(e.stdout, /^\/dev\/pts\/\d+\r\n$/);
  assert.is((await k(['rm', '-f', bg])).code, 0);
});

test('start runs a stopped container again on its own writable layer; restart stops and starts a running one', async () => {
  const r = await k(['run', '-d', '--name', 'again', 'busybox', 'sh', '-c', 'echo run >> /runs; wc -l < /runs; exit 3']);
  assert.is(r.code, 0, r.stderr);
  const waitExited = async () => {
    for (let i = 0; i < 100; i++) {
      if (/Exited \(3\).*again/.test((await k(['ps', '-a'])).stdout)) return;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.unreachable('the container did not exit');
  };
  await waitExited();
  const s = await k(['start', 'again']);
  assert.is(s.code, 0, s.stderr);
  assert.is(s.stdout, 'again\n');
  await waitExited();
  assert.is((await k(['logs', 'again'])).stdout, '1\n2\n', "the second run saw the first run's file");
  assert.is((await k(['rm', 'again'])).code, 0);

  const bg = (await k(['run', '-d', '--name', 'looping', 'busybox', 'sh', '-c', 'echo up; exec sleep 60'])).stdout.trim();
  const restarted = await k(['restart', '-t', '1', 'looping']);
  assert.is(restarted.code, 0, restarted.stderr);
  assert.match((await k(['ps'])).stdout, /Up .*looping/);
  let logs = '';
  for (let i = 0; i < 50 && logs !== 'up\nup\n'; i++) {
    await new Promise((res) => setTimeout(res, 100));
    logs = (await k(['logs', 'looping'])).stdout;
  }
  assert.is(logs, 'up\nup\n');
  assert.is((await k(['rm', '-f', bg])).code, 0);
});

test('run -d -p 127.0.0.1:PORT:5353/udp relays datagrams to a UDP server in the container and back', async () => {
  // busybox has no UDP server: a 20-line static echo server, compiled here, bind-mounted in.
  const src = join(dir, 'udpecho.c');
  const bin = join(dir, 'udpecho');
  await writeFile(
    src,
    [
      '#include <arpa/inet.h>',
      '#include <stdio.h>',
      '#include <sys/socket.h>',
      'int main(void) {',
      '  int s = socket(AF_INET, SOCK_DGRAM, 0);',
      '  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(5353)};',
      '  if (bind(s, (struct sockaddr *)&a, sizeof a)) return 1;',
      '  char buf[2048], out[2100];',
      '  for (;;) {',
      '    struct sockaddr_in from; socklen_t fl = sizeof from;',
      '    ssize_t n = recvfrom(s, buf, sizeof buf - 1, 0, (struct sockaddr *)&from, &fl);',
      '    if (n < 0) continue;',
      '    buf[n] = 0;',
      '    int m = snprintf(out, sizeof out, "echo:%s", buf);',
      '    sendto(s, out, m, 0, (struct sockaddr *)&from, fl);',
      '  }',
      '}',
    ].join('\n'),
  );
  execFileSync('cc', ['-static', '-O2', '-o', bin, src]);
  const probe = createSocket('udp4');
  const port = await new Promise<number>((resolve) => probe.bind({ address: '127.0.0.1', port: 0 }, () => resolve(probe.address().port)));
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const r = await k(['run', '-d', '--name', 'udp', '-v', `${bin}:/udpecho:ro`, '-p', `127.0.0.1:${port}:5353/udp`, 'busybox', '/udpecho']);
  assert.is(r.code, 0, r.stderr);
  assert.match((await k(['ps'])).stdout, new RegExp(`127\\.0\\.0\\.1:${port}->5353/udp`));
  const client = createSocket('udp4');
  try {
    // The server binds once the container's process runs, which on a loaded 2-core CI machine can take seconds:
    // keep pinging (one listener at a time) for up to 20 s.
    let reply: string | undefined;
    const deadline = Date.now() + 20_000;
    for (let i = 0; !reply && Date.now() < deadline; i++) {
      reply = await new Promise<string | undefined>((resolve) => {
        const onMessage = (m: Buffer) => {
          clearTimeout(t);
          client.off('message', onMessage);
          resolve(m.toString());
        };
        const t = setTimeout(() => {
          client.off('message', onMessage);
          resolve(undefined);
        }, 250);
        client.on('message', onMessage);
        client.send(`ping ${i}`, port, '127.0.0.1');
      });
    }
    assert.match(reply ?? '', /^echo:ping \d+$/);
  } finally {
    client.close();
    await k(['rm', '-f', 'udp']);
  }
});

test('run -d -i is refused (a detached container gets no stdin) and leaves nothing', async () => {
  const before = (await k(['ps', '-aq'])).stdout;
  const r = await k(['run', '-d', '-i', 'busybox', 'cat']);
  assert.is.not(r.code, 0);
  assert.match(r.stderr, /kiln run -d -i/);
  assert.is((await k(['ps', '-aq'])).stdout, before);
});

test('stop, rm and logs of an unknown container are CONTAINER_NOT_FOUND', async () => {
  for (const c of [
    ['stop', 'nope'],
    ['rm', 'nope'],
    ['logs', 'nope'],
    ['exec', 'nope', 'true'],
    ['start', 'nope'],
    ['restart', 'nope'],
  ]) {
    const r = await k(c);
    assert.is(r.code, 3, c.join(' '));
    assert.match(r.stderr, /no such container: nope/);
  }
});

test.run();
