/**
 * kiln build next to `buildah build --layers` (Debian's buildah, runc + overlay storage) in the same run, on the
 * same contexts, both through their CLIs (kiln from dist/: run `npm run build` first). Medians of N runs:
 *   small   fixtures/hello (FROM busybox, WORKDIR, COPY, RUN): cold, no-op rebuild, one-file change
 *   large   5,000 small files + three 50 MB files, `COPY . /ctx` + RUN: cold, no-op rebuild, one-file change
 *   runs30  30 sequential RUN steps: cold (per-RUN overhead = cold / 30)
 * kiln runs as a user gets it, the `kiln` command (bin/kiln: its first build starts the root's resident builder,
 * later ones go to it through the native launcher), and in two more columns as `node bin/kiln.js` (a Node client
 * to the same daemon) and with KILN_DAEMON=0 (one process per build).
 * Run: npx tsx bench/build-bench.ts [runs]   (needs root, runc, buildah, skopeo)
 */
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createBuildah } from '../test/helpers/buildah.js';
import { makeLarge, median, timed } from './lib.js';
import { listDaemons, stopDaemons } from '../src/cli/daemon/status.js';

const run = promisify(execFile);
const RUNS = Number(process.argv[2] ?? 3);
/** The machine's load when the bench starts: a busy machine slows both columns, but not always alike. */
const loadAtStart = loadavg()
  .map((l) => l.toFixed(2))
  .join(' ');
const REPO = fileURLToPath(new URL('..', import.meta.url));
const KILN = join(REPO, 'bin/kiln');
const KILN_JS = join(REPO, 'bin/kiln.js');
const work = mkdtempSync(join(process.env.KILN_BENCH_DIR ?? tmpdir(), 'kiln-build-bench-'));
const kilnRoot = join(work, 'kiln-root');

/**
 * How kiln runs: `cli` is the `kiln` command (bin/kiln: the native launcher to the resident builder), `node` is
 * `node bin/kiln.js` (a Node client to the same daemon), `nodaemon` is KILN_DAEMON=0 (one process per build).
 */
type Mode = 'cli' | 'node' | 'nodaemon';
const MODES: Mode[] = ['cli', 'node', 'nodaemon'];

async function kiln(args: string[], mode: Mode = 'cli'): Promise<void> {
  const env = { ...process.env, KILN_DAEMON: mode === 'nodaemon' ? '0' : '1' };
  const [cmd, argv] = mode === 'node' ? [process.execPath, [KILN_JS]] : [KILN, []];
  await run(cmd, [...argv, '--root', kilnRoot, ...args], { maxBuffer: 64 << 20, env });
}

interface Row {
  name: string;
  kiln: Record<Mode, number>;
  buildah: number;
}

async function main(): Promise<void> {
  await kiln(['base', 'busybox']);
  const buildah = await createBuildah(join(work, 'buildah'));
  await buildah.importOci(join(kilnRoot, 'oci'), 'docker.io/library/busybox:latest', 'docker.io/library/busybox:latest');

  const small = join(work, 'small');
  cpSync(join(REPO, 'fixtures/hello'), small, { recursive: true });
  const large = join(work, 'large');
  mkdirSync(large);
  makeLarge(large);
  const runs30 = join(work, 'runs30');
  mkdirSync(runs30);
  writeFileSync(join(runs30, 'Dockerfile'), `FROM busybox\n${Array.from({ length: 30 }, (_, i) => `RUN echo ${i} > /f${i}\n`).join('')}`);

  const rows: Row[] = [];
  // Each round runs kiln in each mode and then buildah, in turn, so load from other jobs hits them alike.
  const measure = async (name: string, k: (mode: Mode) => Promise<unknown>, b: () => Promise<unknown>, before?: () => void) => {
    const ks: Record<Mode, number[]> = { cli: [], node: [], nodaemon: [] };
    const bs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      for (const m of MODES) {
        before?.();
        ks[m].push(await timed(() => k(m)));
      }
      before?.();
      bs.push(await timed(b));
    }
    rows.push({ name, kiln: { cli: median(ks.cli), node: median(ks.node), nodaemon: median(ks.nodaemon) }, buildah: median(bs) });
  };
  const kb =
    (ctx: string, extra: string[] = []) =>
    (mode: Mode = 'cli') =>
      kiln(['build', '-q', '-t', 'bench', ...extra, ctx], mode);
  const bb =
    (ctx: string, extra: Record<string, string> = {}) =>
    async () => {
      const r = await buildah.build({ contextDir: ctx, dockerfile: join(ctx, 'Dockerfile'), tag: 'bench', buildArgs: extra });
      if (r.code !== 0) throw new Error(r.output);
    };
  const bbNoCache = (ctx: string) => async () => {
    await run(
      'buildah',
      [
        '--root',
        join(work, 'buildah/storage'),
        '--runroot',
        join(work, 'buildah/run'),
        '--storage-driver',
        'overlay',
        'build',
        '--layers',
        '--no-cache',
        '--format',
        'docker',
        '--pull-never',
        '-q',
        '-t',
        'bench',
        ctx,
      ],
      { maxBuffer: 64 << 20 },
    );
  };
  let n = 0;
  const touchOne = (ctx: string, file: string) => () => writeFileSync(join(ctx, file), `change ${++n}\n`);

  for (const [name, ctx, file] of [
    ['small', small, 'message.txt'],
    ['large', large, 'dir7/file7.txt'],
  ] as const) {
    await measure(`${name}: cold build`, kb(ctx, ['--no-cache']), bbNoCache(ctx));
    await kb(ctx)();
    await bb(ctx)();
    await measure(`${name}: no-op rebuild`, kb(ctx), bb(ctx));
    await measure(`${name}: one-file change`, kb(ctx), bb(ctx), touchOne(ctx, file));
  }
  await measure('runs30: cold build (30 RUN)', kb(runs30, ['--no-cache']), bbNoCache(runs30));

  // The resident builder must not grow with the builds it serves: its resident memory before and after a
  // series of small no-op rebuilds (after the scenarios above have warmed it up).
  const daemons = (await listDaemons(kilnRoot)).filter((d) => d.alive);
  const rssKiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  let memoryLine = 'resident builder: not running (nothing to measure)';
  if (daemons.length === 1) {
    const pid = daemons[0]!.pid;
    const before = rssKiB(pid);
    const series = 200;
    const t0 = performance.now();
    for (let i = 0; i < series; i++) await kb(small)('cli');
    const per = (performance.now() - t0) / series;
    memoryLine = `resident builder memory: ${(before / 1024).toFixed(0)} MiB before, ${(rssKiB(pid) / 1024).toFixed(0)} MiB after ${series} more no-op builds (${per.toFixed(0)} ms each)`;
  }

  const pad = (s: string, w: number) => s.padEnd(w);
  const load = () =>
    loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
  console.log(
    `\nkiln build vs buildah build --layers, medians of ${RUNS} runs; ${cpus().length} CPUs, load average (1/5/15 min) ${loadAtStart} at the start, ${load()} now\n`,
  );
  const cell = (ms: number, peer: number) => pad(`${ms.toFixed(0)} ms ${(peer / ms).toFixed(1)}x`, 18);
  console.log('kiln columns: time and speed-up over buildah; `kiln` is the kiln command (bin/kiln), `node client` is');
  console.log('`node bin/kiln.js` (same daemon), `KILN_DAEMON=0` one process per build.\n');
  console.log(`${pad('scenario', 32)} ${pad('buildah', 10)} ${pad('kiln', 18)} ${pad('node client', 18)} KILN_DAEMON=0`);
  for (const r of rows) {
    console.log(
      `${pad(r.name, 32)} ${pad(`${r.buildah.toFixed(0)} ms`, 10)} ${cell(r.kiln.cli, r.buildah)} ${cell(r.kiln.node, r.buildah)} ${cell(r.kiln.nodaemon, r.buildah)}`,
    );
  }
  const k30 = rows.at(-1)!;
  console.log(`\n${memoryLine}`);
  console.log(
    `per-RUN overhead (cold 30-RUN build / 30): kiln ${(k30.kiln.cli / 30).toFixed(0)} ms (${(k30.kiln.nodaemon / 30).toFixed(0)} ms with KILN_DAEMON=0), buildah ${(k30.buildah / 30).toFixed(0)} ms`,
  );
  await buildah.destroy();
}

try {
  await main();
} finally {
  await stopDaemons(kilnRoot);
  execFileSync('sh', ['-c', `grep -o ' ${work}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l`]);
  rmSync(work, { recursive: true, force: true });
}
