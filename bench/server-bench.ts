/**
 * The server's overhead: a no-op rebuild (everything cached) through `kiln serve` next to the same rebuild run
 * locally, in the same run, on the same root contents. Three clients of the server: the stock docker CLI
 * (DOCKER_BUILDKIT=0), kiln's remote CLI (`kiln --host`), and a raw HTTP client (the server's own cost without a
 * CLI's start-up). Contexts: fixtures/hello, and a 2,000-file context (the tar upload and unpack dominate).
 * Run: npx tsx bench/server-bench.ts [runs]   (needs root, runc, docker CLI; uses dist/ when built, else tsx)
 */
import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { packContext } from '../src/cli/remote/context-tar.js';
import { freePort } from '../test/helpers/registry.js';
import { median, timed } from './lib.js';

const exec = promisify(execFile);
const RUNS = Number(process.argv[2] ?? 5);
const REPO = fileURLToPath(new URL('..', import.meta.url));
const DIST = join(REPO, 'bin/kiln.js');
const useDist = existsSync(join(REPO, 'dist/cli/main.js'));
const entry = useDist ? [DIST] : ['--import', 'tsx', join(REPO, 'src/cli/dev.ts')];
const work = mkdtempSync(join(process.env.KILN_BENCH_DIR ?? tmpdir(), 'kiln-server-bench-'));
const root = join(work, 'root');

const kiln = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  exec(process.execPath, [...entry, '--root', root, ...args], { maxBuffer: 64 << 20, env: { ...process.env, ...env }, cwd: REPO });

/** POST /build with a packed context, read to the end; what the server costs without any CLI start-up. */
async function rawBuild(port: number, dir: string, tag: string): Promise<void> {
  const ctx = await packContext(dir);
  await new Promise<void>((resolve, reject) => {
    const q = new URLSearchParams({ dockerfile: ctx.dockerfile, t: tag });
    const req = http.request(
      { host: '127.0.0.1', port, method: 'POST', path: `/v1.45/build?${q}`, headers: { 'Content-Type': 'application/x-tar' } },
      (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => (body.includes('"error"') ? reject(new Error(body)) : resolve()));
      },
    );
    req.on('error', reject);
    ctx.stream.pipe(req);
  });
}

function makeMany(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (let d = 0; d < 20; d++) {
    mkdirSync(join(dir, `d${d}`));
    for (let i = 0; i < 100; i++) writeFileSync(join(dir, `d${d}`, `f${i}.txt`), `file ${d}/${i}\n`.repeat(50));
  }
  writeFileSync(join(dir, 'Dockerfile'), 'FROM busybox\nCOPY . /ctx\nRUN ls /ctx | wc -l\n');
}

async function main(): Promise<void> {
  await kiln(['base', 'busybox']);
  const hello = join(work, 'hello');
  cpSync(join(REPO, 'fixtures/hello'), hello, { recursive: true });
  const many = join(work, 'many');
  makeMany(many);
  const port = await freePort();
  const server = spawn(process.execPath, [...entry, '--root', root, 'serve', '--quiet', '--listen', `tcp://127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'inherit'],
    cwd: REPO,
  });
  await new Promise<void>((resolve, reject) => {
    server.stdout!.on('data', (d) => String(d).includes('listening') && resolve());
    server.on('exit', () => reject(new Error('kiln serve exited')));
  });
  const dockerEnv = { DOCKER_HOST: `tcp://127.0.0.1:${port}`, DOCKER_BUILDKIT: '0', DOCKER_CONFIG: join(work, 'docker') };
  mkdirSync(dockerEnv.DOCKER_CONFIG);
  writeFileSync(join(dockerEnv.DOCKER_CONFIG, 'config.json'), '{}');
  const rows: string[][] = [];
  try {
    for (const [name, dir] of [
      ['hello', hello],
      ['2,000 files', many],
    ] as const) {
      // Warm: one build each way, so every later one is a no-op rebuild of cached steps.
      await kiln(['build', '-q', '-t', `bench-${name.length}`, dir]);
      await rawBuild(port, dir, `bench-${name.length}`);
      const local: number[] = [];
      const raw: number[] = [];
      const docker: number[] = [];
      const remote: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        local.push(await timed(() => kiln(['build', '-q', '-t', `bench-${name.length}`, dir])));
        raw.push(await timed(() => rawBuild(port, dir, `bench-${name.length}`)));
        docker.push(await timed(() => exec('docker', ['build', '-q', '-t', `bench-${name.length}`, dir], { env: { ...process.env, ...dockerEnv } })));
        remote.push(await timed(() => kiln(['build', '-q', '-t', `bench-${name.length}`, dir], { KILN_HOST: `tcp://127.0.0.1:${port}` })));
      }
      const l = median(local);
      rows.push([
        name,
        `${l.toFixed(0)} ms`,
        `${median(raw).toFixed(0)} ms (${(median(raw) / l).toFixed(2)}x)`,
        `${median(docker).toFixed(0)} ms (${(median(docker) / l).toFixed(2)}x)`,
        `${median(remote).toFixed(0)} ms (${(median(remote) / l).toFixed(2)}x)`,
      ]);
    }
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.on('exit', r));
  }
  console.log(`no-op rebuild, median of ${RUNS} (${useDist ? 'dist' : 'tsx'}); ratio = time / local kiln build`);
  console.log('| context | local `kiln build` | raw HTTP to server | `docker build` via server | `kiln --host` build |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}

try {
  await main();
} finally {
  rmSync(work, { recursive: true, force: true });
}
