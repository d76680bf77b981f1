/**
 * Debian's docker-compose 1.29.2 (which speaks the Engine API itself, through docker-py) against `kiln serve`: a
 * three-service project with a web server built from a Dockerfile, a client that reaches it by service name once
 * its health check passes, a service that restarts on failure and keeps a count in a named volume, a published
 * port. `up -d --build`, `ps`, `logs`, `exec`, `down` and `up` again (the volume keeps its data), `down
 * --remove-orphans` (an unrelated container survives), `down -v` (nothing of the project is left).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../helpers/registry.js';
import { startServe, docker, run, type Served, type CmdResult } from './serve-helper.js';

let s: Served;
let dir: string;
let webPort: number;
const project = `kc${process.pid}`;

const COMPOSE = (withClient: boolean) => `
services:
  web:
    build: ./web
    ports:
      - "127.0.0.1:${webPort}:80"
    volumes:
      - data:/www/data
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"]
      interval: 1s
      timeout: 2s
      retries: 10
${
  withClient
    ? `  client:
    image: busybox
    depends_on:
      web:
        condition: service_healthy
    command: ["sh", "-c", "while :; do wget -q -O - http://web/ && echo; sleep 1; done"]
`
    : ''
}  counter:
    image: busybox
    restart: on-failure
    volumes:
      - data:/data
    command: ["sh", "-c", "n=$$(cat /data/n 2>/dev/null || echo 0); n=$$((n+1)); echo $$n > /data/n; [ $$n -ge 3 ] || exit 1; exec sleep 600"]
volumes:
  data: {}
`;

function compose(args: string[], timeoutMs = 240_000): Promise<CmdResult> {
  return run('docker-compose', ['--ansi', 'never', ...args], {
    cwd: dir,
    timeoutMs,
    env: { DOCKER_HOST: s.host, COMPOSE_PROJECT_NAME: project, DOCKER_CONFIG: s.dockerConfig },
  });
}

async function ok(r: Promise<CmdResult>, what: string): Promise<string> {
  const out = await r;
  assert.is(out.code, 0, `${what}: ${out.stderr}\n${out.stdout}`);
  return out.stdout;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

async function projectObjects(): Promise<{ containers: string; networks: string; volumes: string }> {
  const label = `label=com.docker.compose.project=${project}`;
  return {
    containers: (await ok(docker(s, ['ps', '-aq', '--filter', label]), 'ps')).trim(),
    networks: (await ok(docker(s, ['network', 'ls', '-q', '--filter', label]), 'network ls')).trim(),
    volumes: (await ok(docker(s, ['volume', 'ls', '-q', '--filter', label]), 'volume ls')).trim(),
  };
}

test.before(async () => {
  s = await startServe();
  dir = await mkdtemp(join(tmpdir(), 'kiln-compose-'));
  webPort = await freePort();
  await mkdir(join(dir, 'web'));
  await writeFile(
    join(dir, 'web', 'Dockerfile'),
    'FROM busybox\nRUN mkdir -p /www && echo "hello from web" > /www/index.html\nCMD ["httpd", "-f", "-p", "80", "-h", "/www"]\n',
  );
  await writeFile(join(dir, 'docker-compose.yml'), COMPOSE(true));
});

test.after(async () => {
  if (dir) {
    await compose(['down', '-v', '--remove-orphans'], 60_000).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
  const r = await docker(s, ['ps', '-aq']);
  for (const id of r.stdout.split('\n').filter(Boolean)) await docker(s, ['rm', '-f', id]);
  await s?.stop();
});

test('up -d --build: the web image is built, the client waits for web to be healthy and reaches it by service name', async () => {
  await ok(docker(s, ['run', '-d', '--name', `${project}-outsider`, 'busybox', 'sleep', '600']), 'outsider');
  await ok(compose(['up', '-d', '--build']), 'up -d --build');
  const health = await ok(docker(s, ['inspect', '-f', '{{.State.Health.Status}}', `${project}_web_1`]), 'inspect web');
  assert.is(health.trim(), 'healthy', 'compose started client only after web was healthy');
  const logs = await until('the client to fetch the page by service name', async () => {
    const r = await compose(['logs', '--no-color', 'client']);
    return r.stdout.includes('hello from web') ? r.stdout : undefined;
  });
  assert.match(logs, /client_1\s+\| hello from web/);
});

test('ps lists the three services; the published port answers from the host', async () => {
  const ps = await ok(compose(['ps']), 'ps');
  for (const svc of ['web', 'client', 'counter']) assert.match(ps, new RegExp(`${project}_${svc}_1\\s`));
  assert.match(ps, new RegExp(`127\\.0\\.0\\.1:${webPort}->80/tcp`));
  const page = await fetch(`http://127.0.0.1:${webPort}/`).then((r) => r.text());
  assert.is(page, 'hello from web\n');
});

test('restart: on-failure restarts the counter until it succeeds; exec runs in a service container', async () => {
  const restarts = await until('the counter to settle', async () => {
    const r = await docker(s, ['inspect', '-f', '{{.RestartCount}} {{.State.Status}}', `${project}_counter_1`]);
    return r.stdout.trim() === '2 running' ? r.stdout.trim() : undefined;
  });
  assert.is(restarts, '2 running');
  assert.is((await ok(compose(['exec', '-T', 'counter', 'cat', '/data/n']), 'exec')).trim(), '3');
});

test('down keeps the named volume; up again finds its data', async () => {
  await ok(compose(['down']), 'down');
  assert.is((await projectObjects()).containers, '');
  await ok(compose(['up', '-d']), 'up -d');
  const n = await until('the counter to run again', async () => {
    const r = await compose(['exec', '-T', 'counter', 'cat', '/data/n']);
    return r.code === 0 ? r.stdout.trim() : undefined;
  });
  assert.is(n, '4', 'the count went on from the kept volume');
});

test('down --remove-orphans removes a service dropped from the file and never a container outside the project', async () => {
  await writeFile(join(dir, 'docker-compose.yml'), COMPOSE(false));
  await ok(compose(['down', '--remove-orphans']), 'down --remove-orphans');
  assert.is((await projectObjects()).containers, '');
  assert.is((await ok(docker(s, ['inspect', '-f', '{{.State.Running}}', `${project}-outsider`]), 'outsider')).trim(), 'true');
});

test('down -v leaves nothing of the project: no container, network, volume or bridge', async () => {
  await writeFile(join(dir, 'docker-compose.yml'), COMPOSE(true));
  await ok(compose(['up', '-d']), 'up -d');
  const netId = (await ok(docker(s, ['network', 'inspect', '-f', '{{.Id}}', `${project}_default`]), 'network inspect')).trim();
  const bridge = `kbr-${netId.slice(0, 11)}`;
  assert.is((await run('ip', ['link', 'show', bridge])).code, 0, `the project network's bridge ${bridge} exists while up`);
  await ok(compose(['down', '-v']), 'down -v');
  assert.equal(await projectObjects(), { containers: '', networks: '', volumes: '' });
  assert.is.not((await run('ip', ['link', 'show', bridge])).code, 0, `bridge ${bridge} is gone`);
});

test.run();
