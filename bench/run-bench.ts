/**
 * `kiln run --rm busybox true` start-to-exit latency next to the floor: plain `runc run` of a prepared bundle
 * (busybox rootfs directory, runc's default spec, no overlay). Both in the same run; medians of N runs after a
 * warm-up, reported as ratios to runc. Also reported, to show where the time goes:
 *   - executor.run() of `true` on an overlay rootfs (what a RUN step pays; in-process, no CLI start-up), with
 *     Docker's default seccomp profile and unconfined (runc compiles the filter in every container's init)
 *   - `kiln run --rm --network none` (CLI, no bridge set-up)
 *   - `kiln --version` and `node -e 0` (the start-up any CLI call pays before `run` does anything)
 * kiln's CLI runs from dist/ (run `npm run build` first). Run: npx tsx bench/run-bench.ts [runs]   (root, runc)
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createExecutor } from '../src/sandbox/executor.js';
import { cleanupStale } from '../src/sandbox/cleanup.js';
import { writeBusyboxTree } from '../test/integration/executor/fixture.js';

const exec = promisify(execFile);
const RUNS = Number(process.argv[2] ?? 15);
const REPO = fileURLToPath(new URL('..', import.meta.url));
const KILN = join(REPO, 'bin/kiln.js');
const work = mkdtempSync(join(tmpdir(), 'kiln-run-bench-'));
const root = join(work, 'root');

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

async function median(label: string, fn: () => Promise<unknown>): Promise<number> {
  await fn();
  const xs: number[] = [];
  for (let i = 0; i < RUNS; i++) xs.push(await time(fn));
  xs.sort((a, b) => a - b);
  const m = xs[Math.floor(xs.length / 2)]!;
  process.stderr.write(`  ${label}: median ${m.toFixed(1)} ms (min ${xs[0]!.toFixed(1)}, max ${xs.at(-1)!.toFixed(1)})\n`);
  return m;
}

try {
  // The floor: a prepared bundle with runc's default spec running `true`.
  const bundle = join(work, 'bundle');
  mkdirSync(join(bundle, 'rootfs'), { recursive: true });
  await writeBusyboxTree(join(bundle, 'rootfs'));
  execFileSync('runc', ['spec'], { cwd: bundle });
  const spec = JSON.parse(execFileSync('cat', [join(bundle, 'config.json')], { encoding: 'utf8' }));
  spec.process.terminal = false;
  spec.process.args = ['true'];
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
  let n = 0;
  const runcState = join(work, 'runc-state');

  // Lower dir + fresh overlay for the in-process executor.
  const lower = join(work, 'lower');
  await writeBusyboxTree(lower);
  const executor = createExecutor({ root });

  execFileSync(process.execPath, [KILN, '--root', root, 'base', 'busybox']);

  process.stderr.write(`kiln run benchmark, ${RUNS} runs each\n`);
  const runc = await median('runc run (prepared bundle)', () => exec('runc', ['--root', runcState, 'run', '--bundle', bundle, `bench-${n++}`]));
  const nodeStart = await median('node -e 0', () => exec(process.execPath, ['-e', '0']));
  const cliStart = await median('kiln --version', () => exec(process.execPath, [KILN, '--version']));
  const runTrue = async (seccomp?: 'unconfined') => {
    const s = join(work, `s${n++}`);
    mkdirSync(join(s, 'u'), { recursive: true });
    mkdirSync(join(s, 'w'), { recursive: true });
    await executor.run({
      rootfs: [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lower}`, `upperdir=${s}/u`, `workdir=${s}/w`] }],
      process: { args: ['true'], env: [] },
      seccomp,
    });
    rmSync(s, { recursive: true, force: true });
  };
  const lib = await median('executor.run() true on overlay', () => runTrue());
  const libUnconfined = await median('executor.run() true on overlay, seccomp unconfined', () => runTrue('unconfined'));
  const cliNone = await median('kiln run --rm --network none busybox true', () =>
    exec(process.execPath, [KILN, '--root', root, 'run', '--rm', '--network', 'none', 'busybox', 'true']),
  );
  const cli = await median('kiln run --rm busybox true (bridge)', () => exec(process.execPath, [KILN, '--root', root, 'run', '--rm', 'busybox', 'true']));

  const rows = [
    ['runc run of a prepared bundle (floor)', runc],
    ['executor.run() `true` on overlay (per RUN step)', lib],
    ['executor.run() `true` on overlay, seccomp unconfined', libUnconfined],
    ['kiln run --rm --network none busybox true', cliNone],
    ['kiln run --rm busybox true (bridge)', cli],
    ['kiln --version (CLI start-up: Node + every command module)', cliStart],
    ['node -e 0 (Node start-up)', nodeStart],
  ] as const;
  console.log('| measure | median ms | vs runc run |');
  console.log('|---|---|---|');
  for (const [label, ms] of rows) console.log(`| ${label} | ${ms.toFixed(1)} | ${(ms / runc).toFixed(2)}x |`);
} finally {
  await cleanupStale(root).catch(() => {});
  rmSync(work, { recursive: true, force: true });
}
