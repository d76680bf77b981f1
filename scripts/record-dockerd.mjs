#!/usr/bin/env node
/**
 * Records dockerd 20.10's JSON answers once, as the reference shapes for
 * test/integration/server/recorded-shapes.test.ts (which compares kiln serve's answers to them key by key and
 * type by type, never value by value).
 *
 * What it does (as root, with Debian's docker.io 20.10: /usr/sbin/dockerd, client /usr/bin/docker):
 *  1. starts dockerd by hand with every piece of state under one temp dir (socket, data root, exec root, pid
 *     file; its own containerd's state lands under those too), no iptables, no default bridge;
 *  2. loads a busybox image made by kiln (`bin/kiln base busybox` into a temp root, `bin/kiln save`, `docker load`);
 *  3. makes a labelled named volume, a user-defined bridge network (an explicit subnet, so it does not take a
 *     range the machine uses), a running container (`--network none`, the volume mounted, `sleep 1000`), one
 *     that exited and one only created, all labelled;
 *  4. GETs a fixed set of requests over the socket and POSTs a small Dockerfile to `/v1.41/build` twice (the
 *     second run shows dockerd's "Using cache" lines), storing each answer as JSON in
 *     test/fixtures/dockerd-20.10/ (ids and timestamps as they came);
 *  5. removes what it made, stops dockerd and removes the temp dir, also when a step fails.
 *
 * Run it from the repository root after `npm run build`: `node scripts/record-dockerd.mjs`. It rewrites the
 * fixtures; commit them.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const REPO = resolve(new URL('..', import.meta.url).pathname);
const OUT = join(REPO, 'test/fixtures/dockerd-20.10');
const DOCKERD = '/usr/sbin/dockerd';
const DOCKER = '/usr/bin/docker';

const T = mkdtempSync(join(tmpdir(), 'kiln-record-dockerd-'));
const SOCK = join(T, 'docker.sock');
const env = { ...process.env, DOCKER_HOST: `unix://${SOCK}`, DOCKER_CONFIG: join(T, 'cfg'), DOCKER_BUILDKIT: '0' };
mkdirSync(join(T, 'cfg'));
writeFileSync(join(T, 'cfg', 'config.json'), '{}');

const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts }).trim();
const docker = (...args) => sh(DOCKER, args);

/** One request over the socket; the body parsed as JSON (or the raw text for a stream). */
function api(method, path, body, headers = {}) {
  return new Promise((res, rej) => {
    const req = request({ socketPath: SOCK, method, path, headers }, (r) => {
      let data = '';
      r.setEncoding('utf8');
      r.on('data', (d) => (data += d));
      r.on('end', () => res({ status: r.statusCode, text: data }));
    });
    req.on('error', rej);
    req.end(body);
  });
}

async function waitFor(what, fn, ms = 60_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await fn()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const saved = [];
function save(name, value) {
  writeFileSync(join(OUT, `${name}.json`), `${JSON.stringify(value, null, 2)}\n`);
  saved.push(name);
}

async function getJson(name, path) {
  const r = await api('GET', path);
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${r.text}`);
  save(name, { request: `GET ${path}`, status: r.status, body: JSON.parse(r.text) });
}

const DOCKERFILE = `FROM busybox
ENV GREETING=hello
RUN echo "$GREETING" > /greeting
COPY file.txt /file.txt
LABEL org.example.kind=shapes
CMD ["cat", "/greeting"]
`;

async function build(name, context) {
  const tarball = execFileSync('tar', ['-C', context, '-c', '.']);
  const r = await api('POST', '/v1.41/build?t=shapes:recorded&rm=1', tarball, { 'Content-Type': 'application/x-tar' });
  if (r.status !== 200) throw new Error(`build: ${r.status} ${r.text}`);
  const messages = r.text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
  save(name, { request: 'POST /v1.41/build?t=shapes:recorded&rm=1', dockerfile: DOCKERFILE, messages });
}

let daemon;
const made = { containers: [], network: undefined, volume: undefined };
try {
  mkdirSync(OUT, { recursive: true });
  daemon = spawn(
    DOCKERD,
    [
      '--host',
      `unix://${SOCK}`,
      '--data-root',
      join(T, 'data'),
      '--exec-root',
      join(T, 'exec'),
      '--pidfile',
      join(T, 'docker.pid'),
      '--iptables=false',
      '--ip-forward=false',
      '--ip-masq=false',
      '--bridge=none',
      '--storage-driver=overlay2',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let daemonLog = '';
  daemon.stderr.on('data', (d) => (daemonLog += d));
  daemon.on('exit', (code) => {
    if (code) process.stderr.write(`dockerd exited ${code}:\n${daemonLog.slice(-4000)}\n`);
  });
  await waitFor('dockerd', async () => (await api('GET', '/_ping')).status === 200);

  // The busybox image, made by kiln.
  const kroot = join(T, 'kiln-root');
  sh(join(REPO, 'bin/kiln'), ['--root', kroot, 'base', 'busybox']);
  sh(join(REPO, 'bin/kiln'), ['--root', kroot, 'save', 'busybox', '-o', join(T, 'busybox.tar')]);
  docker('load', '-i', join(T, 'busybox.tar'));

  made.volume = 'shapes-vol';
  docker('volume', 'create', '--label', 'org.example.kind=shapes', made.volume);
  try {
    made.network = docker('network', 'create', '--label', 'org.example.kind=shapes', '--subnet', '172.31.240.0/24', 'shapes-net');
  } catch (err) {
    process.stderr.write(`network create failed (recorded without a user-defined network): ${err.stderr ?? err}\n`);
  }
  const label = ['--label', 'org.example.kind=shapes'];
  const running = docker('run', '-d', '--name', 'shapes-running', ...label, '--network', 'none', '-v', `${made.volume}:/data`, 'busybox', 'sleep', '1000');
  made.containers.push(running);
  const exited = docker('run', '-d', '--name', 'shapes-exited', ...label, '--network', 'none', 'busybox', 'true');
  made.containers.push(exited);
  sh(DOCKER, ['wait', exited]);
  const created = docker('create', '--name', 'shapes-created', ...label, '--network', 'none', 'busybox', 'echo', 'hi');
  made.containers.push(created);
  const image = JSON.parse(docker('image', 'inspect', 'busybox'))[0].Id;

  await getJson('containers-list', '/v1.41/containers/json?all=1');
  await getJson('containers-list-size', '/v1.41/containers/json?all=1&size=1');
  await getJson('container-running', `/v1.41/containers/${running}/json`);
  await getJson('container-exited', `/v1.41/containers/${exited}/json`);
  await getJson('container-created', `/v1.41/containers/${created}/json`);
  await getJson('container-top', `/v1.41/containers/${running}/top`);
  await getJson('images-list', '/v1.41/images/json');
  await getJson('image-inspect-1.41', `/v1.41/images/${image}/json`);
  // No /v1.43/ answer: dockerd 20.10 speaks up to API 1.41 (400 "client version 1.43 is too new").
  await getJson('networks-list', '/v1.41/networks');
  if (made.network) await getJson('network-inspect', `/v1.41/networks/${made.network}`);
  await getJson('volumes-list', '/v1.41/volumes');
  await getJson('volume-inspect', `/v1.41/volumes/${made.volume}`);
  await getJson('version', '/v1.41/version');
  await getJson('info', '/v1.41/info');

  const ctx = join(T, 'context');
  mkdirSync(ctx);
  writeFileSync(join(ctx, 'Dockerfile'), DOCKERFILE);
  writeFileSync(join(ctx, 'file.txt'), 'shapes\n');
  await build('build-stream', ctx);
  await build('build-stream-cached', ctx);
  // After the builds: the df answer then has build cache rows, if dockerd keeps any for the legacy builder.
  await getJson('system-df', '/v1.41/system/df');
  process.stdout.write(`recorded ${saved.length} answers in ${OUT}: ${saved.join(', ')}\n`);
} finally {
  try {
    if (existsSync(SOCK)) {
      for (const id of made.containers) await api('DELETE', `/v1.41/containers/${id}?force=1&v=1`);
      if (made.network) await api('DELETE', `/v1.41/networks/${made.network}`);
      if (made.volume) await api('DELETE', `/v1.41/volumes/${made.volume}`);
    }
  } finally {
    if (daemon && daemon.exitCode === null) {
      const gone = new Promise((r) => daemon.on('exit', r));
      daemon.kill('SIGTERM');
      const t = setTimeout(() => daemon.kill('SIGKILL'), 30_000);
      await gone;
      clearTimeout(t);
    }
    // The overlay mounts go with dockerd; whatever is left mounted under T is unmounted before the removal.
    try {
      const mounts = sh('awk', ['-v', `t=${T}`, 'index($2, t) == 1 { print $2 }', '/proc/self/mounts'])
        .split('\n')
        .filter(Boolean)
        .reverse();
      for (const m of mounts) sh('umount', ['-l', m]);
    } catch {
      // nothing mounted
    }
    rmSync(T, { recursive: true, force: true });
  }
}
