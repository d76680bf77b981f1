/**
 * Where a build's time goes, for the scenarios of compare-bench.ts (the same contexts: bench/lib.ts), built as
 * users build (`bin/kiln`: the resident builder, started with KILN_PROFILE set, so the builder writes the profile;
 * src/cache/profile.ts): cold (--no-cache), no-op and one-file change, N builds each. Per phase: its count per
 * build, its median total per build and its median per occurrence; beside each scenario its wall time and the
 * builder's own part of it (build.setup + build.stages + build.settle-durable + build.export), the rest being the
 * client's start, the request and the answer. Phases in "(deferred)" run beside the next steps, off their path.
 * Then the floors a build cannot go below on this machine, each the median of max(5N, 15):
 *   runc run true       `runc run` of /bin/true in a prepared bundle (runc's default spec on busybox): without a
 *                       seccomp filter; with Docker's profile and its three x86 ABIs; with the profile as kiln
 *                       applies it on this host (only the ABIs the kernel runs: src/sandbox/compat-abis.ts) and
 *                       runc executed from kiln's sealed in-memory copy, i.e. how a RUN step starts it
 *   overlay mount       one overlay mount + umount through kiln's mountAll/unmountMounted (mount(2), native addon)
 *   node start-up       `node -e 0` (what every KILN_DAEMON=0 build pays before its first phase)
 *   context scan        the large context's 51 directories: readdir + fstatat of every entry in C, one directory
 *                       after another on one thread, and side by side on libuv's threads (how a COPY walks it)
 *   served empty build  `kiln build` of `FROM busybox`, already tagged, through the resident builder: the client,
 *                       the request and the daemon around a solve with no step
 *   large layer         the large context copied (cp -a) and packed (tar | gzip -1), each synced: what its cold
 *                       COPY layer costs with the system's tools
 * Run: npx tsx bench/profile-run.ts [runs] [--only runs30,large]   (root, runc; `npm run build` and
 * `bash native/build.sh` first)
 */
import { execFile } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { mountAll, unmountMounted } from '../src/sandbox/mount.js';
import { seccompFor } from '../src/sandbox/seccomp-profile.js';
import { runcExecutable } from '../src/sandbox/runc.js';
import { DEFAULT_CAPABILITIES } from '../src/sandbox/spec.js';
import { median, timed, writeBenchContexts } from './lib.js';
import { scanDir } from '../src/native/fsx.js';
import { scanDirectoryAsync } from '../src/builder/fileops/scan.js';
import { hostCompatAbis } from '../src/sandbox/compat-abis.js';
import { stopDaemons } from '../src/cli/daemon/status.js';

const run = promisify(execFile);
const args = process.argv.slice(2);
const RUNS = Number(args.find((a) => /^\d+$/.test(a)) ?? 3);
const onlyArg = args.indexOf('--only');
const ONLY = onlyArg >= 0 ? new Set(args[onlyArg + 1]!.split(',')) : undefined;
const REPO = fileURLToPath(new URL('..', import.meta.url));
const KILN = join(REPO, 'bin/kiln');
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

interface Line {
  step: string;
  phase: string;
  ms: number;
}

/** Per phase over several profiled builds: occurrences per build, median total per build, median per occurrence. */
function summarise(builds: Line[][]): Array<{ phase: string; count: number; total: number; each: number }> {
  const phases = new Set(builds.flat().map((l) => l.phase));
  return [...phases]
    .map((phase) => {
      const per = builds.map((b) => b.filter((l) => l.phase === phase));
      return {
        phase,
        count: median(per.map((p) => p.length)),
        total: median(per.map((p) => p.reduce((s, l) => s + l.ms, 0))),
        each: median(per.flat().map((l) => l.ms)),
      };
    })
    .sort((a, b) => b.total - a.total);
}

function printTable(title: string, wall: number[], builds: Line[][]): void {
  console.log(`\n${title}: wall ${median(wall).toFixed(0)} ms (median of ${wall.length})`);
  console.log(`${'phase'.padEnd(30)} ${'per build'.padStart(6)} ${'total ms'.padStart(10)} ${'each ms'.padStart(9)}`);
  for (const r of summarise(builds)) {
    console.log(`${r.phase.padEnd(30)} ${String(r.count).padStart(6)} ${r.total.toFixed(1).padStart(10)} ${r.each.toFixed(2).padStart(9)}`);
  }
}

/** The builder's own part of a build: its top-level phases. */
const OWN = ['build.setup', 'build.stages', 'build.settle-durable', 'build.export'];

async function main(work: string): Promise<void> {
  const loadAtStart = load();
  const root = join(work, 'root');
  const profile = join(work, 'profile.jsonl');
  // One resident builder for the whole run, writing every build's phases to `profile`.
  const env: NodeJS.ProcessEnv = { ...process.env, KILN_PROFILE: profile };
  delete env.KILN_DAEMON;
  const kiln = (a: string[]) => run(KILN, ['--root', root, ...a], { env, maxBuffer: 64 << 20 });
  await kiln(['base', 'busybox']);
  const scenarios = writeBenchContexts(join(work, 'contexts')).filter((sc) => !ONLY || ONLY.has(sc.name));
  let edits = 0;
  const profiled = async (ctx: string, noCache: boolean): Promise<{ ms: number; lines: Line[] }> => {
    writeFileSync(profile, '');
    const ms = await timed(() => kiln(['build', '-q', '-t', 'bench', ...(noCache ? ['--no-cache'] : []), ctx]));
    const lines = readFileSync(profile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Line);
    return { ms, lines };
  };
  for (const sc of scenarios) {
    await kiln(['build', '-q', '-t', 'bench', sc.dir]); // warms the builder for this context
    for (const kind of ['cold', 'no-op', 'one-file'] as const) {
      const wall: number[] = [];
      const builds: Line[][] = [];
      for (let i = 0; i < RUNS; i++) {
        if (kind === 'one-file') appendFileSync(join(sc.dir, sc.file), `edit ${++edits}\n`);
        const r = await profiled(sc.dir, kind === 'cold');
        wall.push(r.ms);
        builds.push(r.lines);
      }
      const own = median(builds.map((b) => b.filter((l) => OWN.includes(l.phase)).reduce((t, l) => t + l.ms, 0)));
      printTable(`${sc.name}, ${kind}: wall ${median(wall).toFixed(0)} ms, in the builder ${own.toFixed(0)} ms`, wall, builds);
    }
  }

  // Floors. A busybox rootfs for runc and as the overlay's lower dir.
  const rootfs = join(work, 'bundle/rootfs');
  mkdirSync(join(work, 'floor-ctx'), { recursive: true });
  writeFileSync(join(work, 'floor-ctx/Dockerfile'), 'FROM busybox\n');
  await kiln(['build', '-q', '-o', `type=local,dest=${rootfs}`, join(work, 'floor-ctx')]);
  const bundle = join(work, 'bundle');
  await run('runc', ['spec', '--bundle', bundle]);
  const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
  spec.process.terminal = false;
  spec.process.args = ['/bin/true'];
  spec.root.readonly = true;
  const runcState = join(work, 'runc');
  let id = 0;
  const runcTrue = (bin = 'runc') => run(bin, ['--root', runcState, 'run', '--bundle', bundle, `floor-${process.pid}-${++id}`]);
  const floor = async (fn: () => Promise<unknown>, times = Math.max(RUNS * 5, 15)) => {
    await fn();
    const ts: number[] = [];
    for (let i = 0; i < times; i++) ts.push(await timed(fn));
    return median(ts);
  };
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
  const runcPlain = await floor(() => runcTrue());
  spec.linux.seccomp = seccompFor(DEFAULT_CAPABILITIES);
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
  const runcDocker = await floor(() => runcTrue());
  // As a RUN step: the ABIs this kernel runs, and runc from its sealed in-memory copy (src/sandbox/runc.ts).
  const abis = hostCompatAbis();
  spec.linux.seccomp = seccompFor(DEFAULT_CAPABILITIES, process.arch, { withoutAbis: { ia32: !abis.ia32, x32: !abis.x32 } });
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
  const runcKiln = await floor(() => runcTrue(runcExecutable()));

  const lower = rootfs;
  const upper = join(work, 'ov/upper');
  const wdir = join(work, 'ov/work');
  const target = join(work, 'ov/merged');
  mkdirSync(upper, { recursive: true });
  mkdirSync(wdir, { recursive: true });
  mkdirSync(target, { recursive: true });
  const ov = [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lower}`, `upperdir=${upper}`, `workdir=${wdir}`] }];
  const overlay = await floor(async () => {
    await mountAll(ov, target);
    await unmountMounted(ov, target);
  });
  const nodeStart = await floor(() => run(process.execPath, ['-e', '0']));
  // The large context's directories, as a COPY of it scans them to prove it unchanged.
  const large = join(work, 'contexts/large');
  const dirs = [large, ...Array.from({ length: 50 }, (_, d) => join(large, `dir${d}`))];
  const scanSerial = await floor(async () => {
    for (const d of dirs) scanDir(d);
  });
  const scanParallel = await floor(() => Promise.all(dirs.map((d) => scanDirectoryAsync(d))));
  // A served build with nothing to do (`FROM busybox`, tagged already): the client, the request, the daemon's
  // handling and the answer, around an empty solve.
  const empty = join(work, 'floor-ctx');
  await kiln(['build', '-q', '-t', 'floor-empty', empty]);
  const servedEmpty = await floor(() => kiln(['build', '-q', '-t', 'floor-empty', empty]));
  // The large context's cold layer with the system's tools: a copy (GNU cp) and a gzip -1 tar of it (GNU tar,
  // gzip), each fsynced; fewer runs, each takes seconds.
  const copyDir = join(work, 'floor-copy');
  const copyLarge = await floor(() => run('sh', ['-c', `rm -rf ${copyDir} && cp -a ${large} ${copyDir} && sync -f ${copyDir}`]), 3);
  const tarGz = join(work, 'floor-large.tar.gz');
  const tarLarge = await floor(() => run('sh', ['-c', `tar -C ${large} -cf - . | gzip -1 > ${tarGz} && sync -f ${tarGz}`]), 3);

  const n = Math.max(RUNS * 5, 15);
  console.log(`\nfloors (median of ${n}):`);
  console.log(`  runc run /bin/true, runc's default spec, no seccomp          ${runcPlain.toFixed(1)} ms`);
  console.log(`  the same with Docker's seccomp profile (x86_64, x86, x32)    ${runcDocker.toFixed(1)} ms`);
  console.log(
    `  as a RUN starts it: the ABIs this kernel runs (${abis.ia32 ? 'x86 ' : ''}${abis.x32 ? 'x32 ' : ''}beside x86_64), sealed copy ${runcKiln.toFixed(1)} ms`,
  );
  console.log(`  overlay mount + umount (mount(2), kiln's mountAll)           ${overlay.toFixed(2)} ms`);
  console.log(`  node -e 0                                                   ${nodeStart.toFixed(1)} ms`);
  console.log(`  large context: readdir + fstatat of its ${dirs.length} directories, one thread  ${scanSerial.toFixed(1)} ms`);
  console.log(`  the same, side by side on libuv's threads (as a COPY walks)   ${scanParallel.toFixed(1)} ms`);
  console.log(`  a served build with nothing to do (FROM busybox, through bin/kiln)  ${servedEmpty.toFixed(1)} ms`);
  console.log(`  the large context copied with cp -a, then synced (median of 3)      ${copyLarge.toFixed(0)} ms`);
  console.log(`  the large context through tar | gzip -1, then synced (median of 3)  ${tarLarge.toFixed(0)} ms`);
  console.log(`\n${cpus().length} CPUs, load average (1/5/15 min) ${loadAtStart} at the start, ${load()} at the end`);
}

const work = mkdtempSync(join(process.env.KILN_BENCH_DIR ?? tmpdir(), 'kiln-profile-run-'));
try {
  await main(work);
} finally {
  await stopDaemons(join(work, 'root')).catch(() => {});
  await run('sh', ['-c', `grep -o ' ${work}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l`]).catch(() => {});
  await run('sh', ['-c', `for c in $(runc --root ${work}/runc list -q 2>/dev/null); do runc --root ${work}/runc delete -f $c; done`]).catch(() => {});
  rmSync(work, { recursive: true, force: true });
}
