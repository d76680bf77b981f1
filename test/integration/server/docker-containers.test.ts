/**
 * Long-running containers through `kiln serve` with the real docker CLI: `docker run -d -p` publishes a port that
 * answers HTTP on 127.0.0.1, `docker exec` runs a process in it with its output and exit code, and `-v` binds a
 * host directory.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServe, docker, type Served } from './serve-helper.js';
import { freePort } from '../../helpers/registry.js';

let s: Served;
let host = '';
const started: string[] = [];

test.before(async () => {
  // --privileged, --cap-add and seccomp profiles below lift the sandbox: the server must be started allowing it.
  // Host binds through the server only from directories its operator allows (--allow-bind).
  host = mkdtempSync(join(tmpdir(), 'kiln-docker-bind-'));
  s = await startServe({ args: ['--allow', 'security.insecure', '--allow-bind', host] });
});

test.after(async () => {
  for (const id of started) await docker(s, ['rm', '-f', id]);
  await s?.stop();
  rmSync(host, { recursive: true, force: true });
});

function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

async function httpGetRetry(port: number, path: string): Promise<{ status: number; body: string }> {
  let last: unknown;
  for (let i = 0; i < 50; i++) {
    try {
      return await httpGet(port, path);
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw last;
}

test('docker run -d -p 127.0.0.1:PORT:80 with a bind mount serves the host directory over HTTP; docker exec runs in it', async () => {
  writeFileSync(join(host, 'index.html'), 'served from the host\n');
  const port = await freePort();
  const r = await docker(s, ['run', '-d', '-p', `127.0.0.1:${port}:80`, '-v', `${host}:/www`, 'busybox', 'httpd', '-f', '-p', '80', '-h', '/www']);
  assert.is(r.code, 0, r.stderr + s.logs());
  const id = r.stdout.trim();
  assert.match(id, /^[a-f0-9]{64}$/);
  started.push(id);

  const page = await httpGetRetry(port, '/index.html');
  assert.is(page.status, 200);
  assert.is(page.body, 'served from the host\n');

  const ps = await docker(s, ['ps', '--no-trunc', '--format', '{{.ID}} {{.Ports}}']);
  assert.match(ps.stdout, `${id} 127.0.0.1:${port}->80/tcp`);
  const dp = await docker(s, ['port', id]);
  assert.is(dp.stdout.trim(), `80/tcp -> 127.0.0.1:${port}`);
  const binds = await docker(s, ['inspect', '-f', '{{json .HostConfig.Binds}}', id]);
  assert.match(binds.stdout, `${host}:/www`);

  // exec: output, stderr, exit code, and writes through the bind mount reach the host.
  const e = await docker(s, ['exec', id, 'sh', '-c', 'echo from-exec; echo to-err >&2; echo written > /www/new.txt; exit 3']);
  assert.is(e.code, 3, e.stderr);
  assert.is(e.stdout, 'from-exec\n');
  assert.match(e.stderr, 'to-err');
  assert.is(readFileSync(join(host, 'new.txt'), 'utf8'), 'written\n');
  const page2 = await httpGet(port, '/new.txt');
  assert.is(page2.body, 'written\n');

  const ok = await docker(s, ['exec', id, 'cat', '/www/index.html']);
  assert.is(ok.code, 0, ok.stderr);
  assert.is(ok.stdout, 'served from the host\n');

  const stdin = await docker(s, ['exec', '-i', id, 'cat'], { input: 'piped\n' });
  assert.is(stdin.code, 0, stdin.stderr);
  assert.is(stdin.stdout, 'piped\n');

  const tty = await docker(s, ['exec', '-t', id, 'tty']);
  assert.is(tty.code, 0, tty.stderr);
  assert.match(tty.stdout, /^\/dev\/pts\/\d+\r\n$/);

  const detached = await docker(s, ['exec', '-d', id, 'sh', '-c', 'echo in-background > /www/bg.txt']);
  assert.is(detached.code, 0, detached.stderr);
  for (let i = 0; i < 50 && !existsSync(join(host, 'bg.txt')); i++) await new Promise((r) => setTimeout(r, 100));
  assert.is(readFileSync(join(host, 'bg.txt'), 'utf8'), 'in-background\n');

  const missing = await docker(s, ['exec', id, 'no-such-command']);
  assert.is(missing.code, 127, missing.stderr);
  assert.match(missing.stderr, /no-such-command/);

  assert.is((await docker(s, ['rm', '-f', id])).code, 0);
  started.splice(started.indexOf(id), 1);
  assert.not.ok(
    await httpGet(port, '/').then(
      () => true,
      () => false,
    ),
    'the port is closed once the container is gone',
  );
});

test('a read-only bind refuses writes; exec into a stopped or unknown container is a clear error', async () => {
  const r = await docker(s, ['run', '--rm', '-v', `${host}:/ro:ro`, 'busybox', 'sh', '-c', 'touch /ro/x 2>&1; echo rc=$?']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /Read-only file system/);
  assert.match(r.stdout, /rc=1/);
  const e = await docker(s, ['exec', 'no-such-container', 'true']);
  assert.is.not(e.code, 0);
  assert.match(e.stderr, /no-such-container|No such container|not found/i);
});

test('docker run --read-only, --cap-drop, --tmpfs, --hostname, --add-host and -m reach the container', async () => {
  const script = [
    'touch /x 2>&1; echo rc=$?',
    'grep CapEff /proc/self/status',
    'grep " /scratch " /proc/mounts',
    'hostname',
    'grep box-peer /etc/hosts',
    'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max',
  ].join('; ');
  const r = await docker(s, [
    'run',
    '--rm',
    '--read-only',
    '--cap-drop',
    'ALL',
    '--tmpfs',
    '/scratch:size=1m',
    '--hostname',
    'box1',
    '--add-host',
    'box-peer:10.9.8.7',
    '-m',
    '64m',
    'busybox',
    'sh',
    '-c',
    script,
  ]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /Read-only file system\nrc=1/);
  assert.match(r.stdout, /CapEff:\s+0000000000000000/);
  assert.match(r.stdout, /^tmpfs \/scratch tmpfs .*size=1024k/m);
  assert.match(r.stdout, /^box1$/m);
  assert.match(r.stdout, /^10\.9\.8\.7\s+box-peer$/m);
  assert.match(r.stdout, /^67108864$/m);
});

test('--privileged reaches the container; AppArmor is refused, not dropped; a seccomp profile is sent as JSON', async () => {
  const p = await docker(s, ['run', '--rm', '--privileged', 'busybox', 'sh', '-c', 'mount -t tmpfs none /tmp && echo mounted']);
  assert.is(p.code, 0, p.stderr);
  assert.is(p.stdout, 'mounted\n');
  const a = await docker(s, ['run', '--rm', '--security-opt', 'apparmor=unconfined', 'busybox', 'true']);
  assert.is.not(a.code, 0);
  assert.match(a.stderr, /security option "apparmor=unconfined" is not supported/);
  // A profile that refuses mkdir with EPERM: the docker CLI reads the file and sends its JSON in SecurityOpt.
  const profile = join(host, 'no-mkdir.json');
  writeFileSync(
    profile,
    JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] }),
  );
  const m = await docker(s, ['run', '--rm', '--security-opt', `seccomp=${profile}`, 'busybox', 'sh', '-c', 'mkdir /tmp/d 2>&1; echo rc=$?']);
  assert.is(m.code, 0, m.stderr);
  assert.match(m.stdout, /Operation not permitted\nrc=1/);
});

test("docker run -t and docker exec -t get a terminal: one raw stream, exit codes, the client's window size", async () => {
  const r = await docker(s, ['run', '--rm', '-t', 'busybox', 'sh', '-c', 'tty; echo to-stderr >&2; exit 3']);
  assert.is(r.code, 3, r.stderr);
  assert.match(r.stdout, /^\/dev\/pts\/\d+\r\nto-stderr\r\n$/);
  const c = await docker(s, ['run', '-d', '-t', 'busybox', 'sleep', '120']);
  assert.is(c.code, 0, c.stderr);
  const id = c.stdout.trim();
  started.push(id);
  const e = await docker(s, ['exec', '-t', id, 'sh', '-c', 'tty; echo to-stderr >&2; exit 4']);
  assert.is(e.code, 4, e.stderr);
  assert.match(e.stdout, /^\/dev\/pts\/\d+\r\nto-stderr\r\n$/);
  // On a real terminal (script(1)) the CLI sends its window size with the start; the process sees it at once.
  const env = `DOCKER_HOST=${s.host} DOCKER_BUILDKIT=0 DOCKER_CONFIG=${s.dockerConfig}`;
  // script(1) echoes what arrives on its terminal's input in caret notation: the NUL it feeds the terminal when
  // its own stdin ends shows as `^@`, before or after the command's output depending on timing. Not output.
  const onPty = (cmd: string) =>
    execFileSync('script', ['-qec', `stty rows 40 cols 120; ${env} ${cmd}`, '/dev/null'], { timeout: 60_000 })
      .toString()
      .replace(/\^@/g, '');
  assert.match(onPty(`docker exec -it ${id} stty size`), /^40 120\r?$/m);
  assert.match(onPty('docker run --rm -it busybox stty size'), /^40 120\r?$/m);
  // POST /containers/{id}/resize sets the container's terminal; bad sizes are refused.
  const base = `http://${s.host.replace(/^tcp:\/\//, '')}`;
  const resize = (q: string) =>
    fetch(`${base}/containers/${id}/resize?${q}`, { method: 'POST', headers: s.token ? { Authorization: `Bearer ${s.token}` } : {} });
  assert.is((await resize('h=33&w=111')).status, 200);
  assert.is((await resize('h=0&w=10')).status, 400);
  const size = await docker(s, ['exec', id, 'stty', 'size', '-F', '/dev/pts/0']);
  assert.is(size.stdout.trim(), '33 111', size.stderr);
});

test('docker start runs a stopped container again; docker restart stops and starts it; docker wait sees each run', async () => {
  const c = await docker(s, ['run', '-d', 'busybox', 'sh', '-c', 'echo run >> /runs; wc -l < /runs; sleep 1; exit 4']);
  assert.is(c.code, 0, c.stderr);
  const id = c.stdout.trim();
  started.push(id);
  assert.is((await docker(s, ['wait', id])).stdout.trim(), '4');
  assert.is((await docker(s, ['start', id])).code, 0);
  assert.is((await docker(s, ['wait', id])).stdout.trim(), '4');
  assert.is((await docker(s, ['restart', '-t', '1', id])).code, 0);
  assert.is((await docker(s, ['wait', id])).stdout.trim(), '4');
  assert.is((await docker(s, ['logs', id])).stdout, '1\n2\n3\n');
});

test('a port without a host port and a bind source that does not exist are refused', async () => {
  const r = await docker(s, ['run', '--rm', '-v', `${host}/missing-dir:/x`, 'busybox', 'true']);
  assert.is.not(r.code, 0);
  assert.match(r.stderr, /missing-dir/);
  const p = await docker(s, ['run', '-d', '-p', '80', 'busybox', 'httpd', '-f', '-p', '80']);
  assert.is.not(p.code, 0);
  assert.match(p.stderr, /host port is required/);
});

test.run();
