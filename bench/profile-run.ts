/**
 * Where a RUN step's and a metadata step's time goes. Builds the 30-RUN context and the metadata-heavy one (the
 * contexts of compare-bench.ts) with KILN_PROFILE set (src/cache/profile.ts) and KILN_DAEMON=0 (the profile is
 * written by the process that builds), cold (--no-cache) and as a no-op, N times each, and prints per phase its
 * count per build and its median total per build and per occurrence. Then the floors a step cannot go below on
 * this machine, each the median of N:
 *   runc run true       `runc run` of /bin/true in a prepared bundle (runc's default spec on busybox), without and
 *                       with Docker's seccomp profile as kiln applies it (seccompFor), that again with runc
 *                       executed from kiln's sealed in-memory copy (how kiln starts it), and with that profile
 *                       for the native architecture only
 *   overlay mount       one overlay mount + umount through kiln's mountAll/unmountMounted (mount(2), native addon)
 *   node start-up       `node -e 0` (what every KILN_DAEMON=0 build pays before its first phase)
 * Run: npx tsx bench/profile-run.ts [runs]   (root, runc; `npm run build` and `bash native/build.sh` first)
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { mountAll, unmountMounted } from '../src/sandbox/mount.js';
import { seccompFor } from '../src/sandbox/seccomp-profile.js';
import { runcExecutable } from '../src/sandbox/runc.js';
import { DEFAULT_CAPABILITIES } from '../src/sandbox/spec.js';
import { median, timed } from './lib.js';

const run = promisify(execFile);
const RUNS = Number(process.argv[2] ?? 3);
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

async function main(work: string): Promise<void> {
  const loadAtStart = load();
  const root = join(work, 'root');
  const env = { ...process.env, KILN_DAEMON: '0' };
  const kiln = (a: string[], extra: NodeJS.ProcessEnv = {}) => run(KILN, ['--root', root, ...a], { env: { ...env, ...extra }, maxBuffer: 64 << 20 });
  await kiln(['base', 'busybox']);

  const runs30 = join(work, 'runs30');
  mkdirSync(runs30);
  writeFileSync(join(runs30, 'late.txt'), 'late\n');
  const runLines = Array.from({ length: 30 }, (_, i) => `RUN echo ${i} > /f${i}`);
  writeFileSync(join(runs30, 'Dockerfile'), ['FROM busybox', ...runLines.slice(0, 27), 'COPY late.txt /late.txt', ...runLines.slice(27), ''].join('\n'));
  const meta = join(work, 'metadata-heavy');
  mkdirSync(meta);
  writeFileSync(join(meta, 'conf.txt'), 'conf\n');
  writeFileSync(
    join(meta, 'Dockerfile'),
    [
      'FROM busybox',
      ...Array.from({ length: 20 }, (_, i) => `ARG A${i}=value${i}`),
      ...Array.from({ length: 40 }, (_, i) => `ENV E${i}=e${i}-\${A${i % 20}}`),
      ...Array.from({ length: 40 }, (_, i) => `LABEL org.example.l${i}="label ${i}"`),
      'COPY conf.txt /conf.txt',
      'EXPOSE 8080 8443/tcp 53/udp',
      'WORKDIR /srv',
      'RUN cat /conf.txt > /srv/out && echo "$E1 $E39" >> /srv/out',
      'USER 1000:1000',
      'STOPSIGNAL SIGTERM',
      'ENTRYPOINT ["/bin/sh", "-c"]',
      'CMD ["cat /srv/out"]',
      '',
    ].join('\n'),
  );

  let n = 0;
  const profiled = async (ctx: string, noCache: boolean): Promise<{ ms: number; lines: Line[] }> => {
    const file = join(work, `profile-${++n}.jsonl`);
    const ms = await timed(() => kiln(['build', '-q', '-t', 'bench', ...(noCache ? ['--no-cache'] : []), ctx], { KILN_PROFILE: file }));
    const lines = readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Line);
    return { ms, lines };
  };
  for (const [name, ctx] of [
    ['30 RUN steps', runs30],
    ['metadata-heavy', meta],
  ] as const) {
    for (const noCache of [true, false]) {
      if (!noCache) await kiln(['build', '-q', '-t', 'bench', ctx]);
      const wall: number[] = [];
      const builds: Line[][] = [];
      for (let i = 0; i < RUNS; i++) {
        const r = await profiled(ctx, noCache);
        wall.push(r.ms);
        builds.push(r.lines);
      }
      printTable(`${name}, ${noCache ? 'cold (--no-cache)' : 'no-op'}, KILN_DAEMON=0`, wall, builds);
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
  const runcSeccomp = await floor(() => runcTrue());
  // As kiln starts it: from its sealed in-memory copy, which runc does not copy again (src/sandbox/runc.ts).
  const sealed = runcExecutable();
  const runcSeccompSealed = await floor(() => runcTrue(sealed));
  // How much of the filter's cost is its size: the same rules for the native architecture only (runc compiles the
  // filter with libseccomp in every container start, once per listed architecture). A measurement, not a proposal:
  // dropping the 32-bit ABIs from the list changes what a 32-bit syscall gets.
  spec.linux.seccomp = { ...spec.linux.seccomp, architectures: spec.linux.seccomp.architectures.slice(0, 1) };
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
  const runcSeccompNative = await floor(() => runcTrue());

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

  console.log(`\nfloors (median of ${Math.max(RUNS * 5, 15)}):`);
  console.log(`  runc run /bin/true, runc's default spec, no seccomp   ${runcPlain.toFixed(1)} ms`);
  console.log(`  the same with Docker's seccomp profile (as kiln)      ${runcSeccomp.toFixed(1)} ms`);
  console.log(`  the same, runc run from kiln's sealed copy (as a RUN)  ${runcSeccompSealed.toFixed(1)} ms`);
  console.log(`  the same, seccomp for the native architecture only     ${runcSeccompNative.toFixed(1)} ms`);
  console.log(`  overlay mount + umount (mount(2), kiln's mountAll)    ${overlay.toFixed(2)} ms`);
  console.log(`  node -e 0                                            ${nodeStart.toFixed(1)} ms`);
  console.log(`\n${cpus().length} CPUs, load average (1/5/15 min) ${loadAtStart} at the start, ${load()} at the end`);
}

const work = mkdtempSync(join(process.env.KILN_BENCH_DIR ?? tmpdir(), 'kiln-profile-run-'));
try {
  await main(work);
} finally {
  await run('sh', ['-c', `grep -o ' ${work}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l`]).catch(() => {});
  await run('sh', ['-c', `for c in $(runc --root ${work}/runc list -q 2>/dev/null); do runc --root ${work}/runc delete -f $c; done`]).catch(() => {});
  rmSync(work, { recursive: true, force: true });
}
