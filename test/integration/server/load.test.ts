import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServe, docker, type Served } from './serve-helper.js';

let s: Served;
const dirs: string[] = [];

test.before(async () => {
  s = await startServe({ args: ['--concurrency', '4'] });
});
test.after(async () => {
  await s?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function context(data: string, extra = ''): string {
  const d = mkdtempSync(join(tmpdir(), 'kiln-load-'));
  dirs.push(d);
  writeFileSync(join(d, 'data.txt'), `${data}\n`);
  // `$((1+1))` makes the output differ from the step text, so markers count executions, not step headers.
  writeFileSync(join(d, 'Dockerfile'), `FROM busybox\nRUN echo SHARED-$((40+2))\nCOPY data.txt /data.txt\nRUN echo "OUT-$(cat /data.txt)-$((1+1))"${extra}\n`);
  return d;
}

function rssKb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

const count = (text: string, needle: string) => text.split('\n').filter((l) => l === needle).length;

test('16 concurrent docker builds (8 contexts, 8 identical) are all correct and shared steps run once', async () => {
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssKb(s.proc.pid!))), 100);
  const diff = Array.from({ length: 8 }, (_, i) => ({ tag: `load-diff-${i}`, dir: context(`ctx-${i}`), want: `OUT-ctx-${i}-2` }));
  const sameDir = context('same');
  const same = Array.from({ length: 8 }, (_, i) => ({ tag: `load-same-${i}`, dir: sameDir, want: 'OUT-same-2' }));
  const results = await Promise.all([...diff, ...same].map((b) => docker(s, ['build', '-t', b.tag, '.'], { cwd: b.dir, timeoutMs: 300_000 })));
  clearInterval(sampler);
  results.forEach((r, i) => assert.is(r.code, 0, `build ${i}: ${r.stderr}${r.stdout}`));
  const all = results.map((r) => r.stdout).join('\n');
  assert.is(count(all, 'SHARED-42'), 1, 'the step common to all 16 builds ran once');
  assert.is(count(all, 'OUT-same-2'), 1, 'the 8 identical builds ran their steps once');
  for (const b of diff) assert.is(count(all, b.want), 1, b.want);
  assert.ok(
    results.some((r) => /Waiting for a build slot/.test(r.stdout)),
    'some clients were told they wait',
  );

  const ids = new Map<string, string>();
  for (const b of [...diff, ...same]) {
    const r = await docker(s, ['inspect', '--format', '{{.Id}}', b.tag]);
    ids.set(b.tag, r.stdout.trim());
  }
  assert.is(new Set(same.map((b) => ids.get(b.tag))).size, 1);
  assert.is(new Set(diff.map((b) => ids.get(b.tag))).size, 8);
  const check = await docker(s, ['run', '--rm', 'load-diff-5', 'cat', '/data.txt']);
  assert.is(check.stdout, 'ctx-5\n');
  // tsx + the builder sit near 150 MB; 16 streamed builds must not add a context's worth per client.
  assert.ok(peak > 0 && peak < 600 * 1024, `server peak RSS ${peak} kB`);
});

test('a docker client killed mid-build leaves no process, mount or temp file behind', async () => {
  const dir = context('killed', '\nRUN echo started-long-$((2+3)) && sleep 120 && echo never');
  const child = spawn('docker', ['build', '-t', 'killed', '.'], {
    cwd: dir,
    env: { ...process.env, DOCKER_HOST: s.host, DOCKER_BUILDKIT: '0', DOCKER_CONFIG: s.dockerConfig },
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const deadline = Date.now() + 120_000;
  while (!out.includes('started-long-5') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.ok(out.includes('started-long-5'), out);
  child.kill('SIGKILL');
  let clean = false;
  for (let i = 0; i < 150 && !clean; i++) {
    await new Promise((r) => setTimeout(r, 200));
    // This server's container only: its overlay root names the server's state root in its mountinfo (other suites
    // on the machine may run their own `sleep 120`).
    const procs = readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .some((p) => {
        try {
          return (
            readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ').trim() === 'sleep 120' &&
            readFileSync(`/proc/${p}/mountinfo`, 'utf8').includes(s.root)
          );
        } catch {
          return false;
        }
      });
    const mounts = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .filter((l) => l.includes(s.root) && !l.includes('/snapshots/')).length;
    const tmp = readdirSync(join(s.root, 'tmp'), { recursive: true })
      .map(String)
      .filter((p) => /\.spool-|\.partial-|build-/.test(p));
    clean = !procs && mounts === 0 && tmp.length === 0;
  }
  assert.ok(clean, 'sleep process, mounts or temp files left behind');
  assert.match(s.logs(), /"msg":"build".*"outcome":"cancelled"/);
  const img = await docker(s, ['image', 'inspect', 'killed']);
  assert.is(img.code, 1, 'the cancelled build tagged nothing');
});

test.run();
