import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServe, type Served } from './serve-helper.js';

function context(dockerfile: string): string {
  const d = mkdtempSync(join(tmpdir(), 'kiln-drain-'));
  writeFileSync(join(d, 'Dockerfile'), dockerfile);
  return d;
}

/** Starts `docker build` in the background; resolves once `marker` shows in its output. */
async function buildUntil(s: Served, dir: string, marker: string) {
  const child = spawn('docker', ['build', '-t', 'drained', '.'], {
    cwd: dir,
    env: { ...process.env, DOCKER_HOST: s.host, DOCKER_BUILDKIT: '0', DOCKER_CONFIG: s.dockerConfig },
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number>((r) => child.on('close', (c) => r(c ?? 128)));
  const deadline = Date.now() + 120_000;
  while (!out.includes(marker) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(out.includes(marker), out);
  return { exited, output: () => out };
}

/** `sleep 60` processes in containers of the server at `root` (their overlay root names it in their mountinfo). */
const sleepers = (root: string) =>
  readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return (
          readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ').trim() === 'sleep 60' && readFileSync(`/proc/${p}/mountinfo`, 'utf8').includes(root)
        );
      } catch {
        return false;
      }
    }).length;

test('SIGTERM lets a running build finish, then the server exits 0', async () => {
  const s = await startServe({ args: ['--grace-period', '60'] });
  const dir = context('FROM busybox\nRUN echo started-$((1+1)) && sleep 2 && echo finished-$((2+2))\n');
  const b = await buildUntil(s, dir, 'started-2');
  s.proc.kill('SIGTERM');
  const code = await b.exited;
  assert.is(code, 0, b.output());
  assert.match(b.output(), /finished-4/);
  assert.match(b.output(), /Successfully tagged drained/);
  assert.is(await s.stop(), 0);
  rmSync(dir, { recursive: true, force: true });
});

test('SIGTERM cancels a build still running after the grace period and leaves no process behind', async () => {
  const s = await startServe({ args: ['--grace-period', '1'] });
  const dir = context('FROM busybox\nRUN echo long-$((3+3)) && sleep 60\n');
  const b = await buildUntil(s, dir, 'long-6');
  const t0 = Date.now();
  s.proc.kill('SIGTERM');
  const code = await b.exited;
  assert.is.not(code, 0);
  const exit = await s.stop();
  assert.is(
    exit,
    0,
    s
      .logs()
      .split('\n')
      .filter((l) => !l.includes('"msg":"request"'))
      .join('\n'),
  );
  assert.ok(Date.now() - t0 < 30_000, 'the server stopped within the grace period plus clean-up');
  assert.is(sleepers(s.root), 0);
  rmSync(dir, { recursive: true, force: true });
});

test.run();
