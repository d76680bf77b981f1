/**
 * kiln next to BuildKit (Docker Engine 20.10's, bench/buildkit.ts) and buildah (`build --layers`) on the same
 * contexts in the same run, each through its own CLI, all three from the same busybox (kiln's offline image,
 * imported into buildah with skopeo and `docker load`ed into dockerd). Scenarios:
 *   small           fixtures/hello (FROM, ARG, WORKDIR, COPY, RUN, CMD)
 *   multi-stage     a build stage (COPY, RUN) whose output a second stage copies
 *   metadata-heavy  20 ARG, 40 ENV, 40 LABEL, EXPOSE, USER, STOPSIGNAL, CMD around one COPY and one RUN
 *   runs30          30 RUN steps, a COPY of `late.txt` before the last three
 *   large           5,000 small files + three 50 MB files, `COPY . /ctx` + RUN
 * each cold (--no-cache for all three; BuildKit's build cache pruned first, untimed), no-op rebuild and one-file
 * change (a file the build reads; runs30's is the late one), and for small and large a push of the built image to
 * a loopback registry (Debian's docker-registry), under a new repository name each time.
 * Each round runs every builder once, in turn, so load from other jobs hits them alike; a figure is the median of
 * N rounds (default 5). kiln runs as users run it (`bin/kiln`: the resident builder) and with KILN_DAEMON=0 (one
 * process per build). The targets (issue 17): every cold build 1.5x faster than BuildKit and 3x faster than
 * buildah, every no-op 5x faster than BuildKit, every one-file change 2x faster than BuildKit, push no slower.
 *
 * Run: npx tsx bench/compare-bench.ts [runs] [--only small,runs30] [--markdown]
 * (root; runc, buildah, skopeo, docker.io 20.10, docker-registry; `npm run build` and `bash native/build.sh` first)
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createBuildah, type Buildah } from '../test/helpers/buildah.js';
import { startRegistry, type TestRegistry } from '../test/helpers/registry.js';
import { startBuildKit, type BuildKit } from './buildkit.js';
import { median, timed, writeBenchContexts, type Scenario } from './lib.js';
import { stopDaemons } from '../src/cli/daemon/status.js';

const run = promisify(execFile);
const args = process.argv.slice(2);
const RUNS = Number(args.find((a) => /^\d+$/.test(a)) ?? 5);
const onlyArg = args.indexOf('--only');
const ONLY = onlyArg >= 0 ? new Set(args[onlyArg + 1]!.split(',')) : undefined;
const MARKDOWN = args.includes('--markdown');
const REPO = fileURLToPath(new URL('..', import.meta.url));
const KILN = join(REPO, 'bin/kiln');

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

type Builder = 'kiln' | 'kiln0' | 'buildkit' | 'buildah';
const BUILDERS: Builder[] = ['kiln', 'kiln0', 'buildkit', 'buildah'];
type Kind = 'cold' | 'no-op' | 'one-file' | 'push';

interface Row {
  scenario: string;
  kind: Kind;
  ms: Record<Builder, number>;
}

/** The speed-up each target asks for, over BuildKit and over buildah (push: no slower than BuildKit). */
const TARGETS: Record<Kind, { buildkit?: number; buildah?: number }> = {
  cold: { buildkit: 1.5, buildah: 3 },
  'no-op': { buildkit: 5 },
  'one-file': { buildkit: 2 },
  push: { buildkit: 1 },
};

function writeContexts(work: string): Scenario[] {
  return writeBenchContexts(work).filter((sc) => !ONLY || ONLY.has(sc.name));
}

async function main(work: string, cleanups: Array<() => Promise<unknown>>): Promise<void> {
  const loadAtStart = load();
  const kilnRoot = join(work, 'kiln-root');
  cleanups.push(() => stopDaemons(kilnRoot));
  const kiln = async (a: string[], daemon = true) => {
    await run(KILN, ['--root', kilnRoot, ...a], { maxBuffer: 64 << 20, env: { ...process.env, KILN_DAEMON: daemon ? '1' : '0' } });
  };
  await kiln(['base', 'busybox']);
  await kiln(['save', 'busybox', '-o', join(work, 'busybox.tar')]);

  const registry: TestRegistry = await startRegistry();
  cleanups.push(() => registry.stop());
  const buildkit: BuildKit = await startBuildKit({ dir: join(work, 'buildkit'), insecureRegistries: [registry.host], handleSignals: false });
  cleanups.push(() => buildkit.stop());
  await buildkit.load(join(work, 'busybox.tar'));
  const buildah: Buildah = await createBuildah(join(work, 'buildah'));
  cleanups.push(() => buildah.destroy());
  await buildah.importOci(join(kilnRoot, 'oci'), 'docker.io/library/busybox:latest', 'docker.io/library/busybox:latest');

  const buildahArgs = ['--root', join(work, 'buildah/storage'), '--runroot', join(work, 'buildah/run'), '--storage-driver', 'overlay'];
  const build = (b: Builder, dir: string, noCache: boolean): Promise<unknown> => {
    switch (b) {
      case 'kiln':
      case 'kiln0':
        return kiln(['build', '-q', '-t', 'bench', ...(noCache ? ['--no-cache'] : []), dir], b === 'kiln');
      case 'buildkit':
        return buildkit.build(dir, { tag: 'bench', noCache });
      case 'buildah':
        return run(
          'buildah',
          [...buildahArgs, 'build', '--layers', ...(noCache ? ['--no-cache'] : []), '--format', 'docker', '--pull-never', '-q', '-t', 'bench', dir],
          { maxBuffer: 64 << 20 },
        );
    }
  };
  let pushes = 0;
  const push = (b: Builder, scenario: string): Promise<unknown> => {
    const ref = `${registry.host}/${b}-${scenario}-${++pushes}:latest`;
    switch (b) {
      case 'kiln':
      case 'kiln0':
        return kiln(['push', '-q', '--insecure-registry', registry.host, '--from', 'bench', ref], b === 'kiln');
      case 'buildkit':
        return buildkit.push('bench', ref);
      case 'buildah':
        return run('buildah', [...buildahArgs, 'push', '--quiet', '--tls-verify=false', 'bench', `docker://${ref}`], { maxBuffer: 64 << 20 });
    }
  };

  const rows: Row[] = [];
  const measure = async (scenario: string, kind: Kind, fn: (b: Builder) => Promise<unknown>, before?: (b: Builder) => Promise<unknown> | void) => {
    const ts: Record<Builder, number[]> = { kiln: [], kiln0: [], buildkit: [], buildah: [] };
    for (let i = 0; i < RUNS; i++) {
      for (const b of BUILDERS) {
        await before?.(b);
        ts[b].push(await timed(() => fn(b)));
      }
    }
    const row: Row = { scenario, kind, ms: { kiln: median(ts.kiln), kiln0: median(ts.kiln0), buildkit: median(ts.buildkit), buildah: median(ts.buildah) } };
    rows.push(row);
    process.stderr.write(`${scenario} ${kind}: ${BUILDERS.map((b) => `${b} ${row.ms[b].toFixed(0)} ms`).join(', ')} (load ${load()})\n`);
  };

  const scenarios = writeContexts(work);
  // One untimed cold build of the first context by each builder: the resident builder loads its modules and
  // dockerd its BuildKit controller once, as for a user's second build of the day.
  for (const b of BUILDERS) await build(b, scenarios[0]!.dir, true);
  let n = 0;
  for (const s of scenarios) {
    const touch = () => writeFileSync(join(s.dir, s.file), `change ${++n}\n`);
    await measure(
      s.name,
      'cold',
      (b) => build(b, s.dir, true),
      (b) => (b === 'buildkit' ? buildkit.prune() : undefined),
    );
    for (const b of BUILDERS) await build(b, s.dir, false);
    await measure(s.name, 'no-op', (b) => build(b, s.dir, false));
    await measure(s.name, 'one-file', (b) => build(b, s.dir, false), touch);
    if (s.push) await measure(s.name, 'push', (b) => push(b, s.name));
  }

  const loadAtEnd = load();
  const fmt = (ms: number) => `${ms.toFixed(0)} ms`;
  const verdict = (r: Row) => {
    const t = TARGETS[r.kind];
    const parts: string[] = [];
    if (t.buildkit)
      parts.push(`${r.kind === 'push' ? 'no slower than BuildKit' : `${t.buildkit}x BuildKit`}: ${r.ms.buildkit / r.ms.kiln >= t.buildkit ? 'met' : 'missed'}`);
    if (t.buildah) parts.push(`${t.buildah}x buildah: ${r.ms.buildah / r.ms.kiln >= t.buildah ? 'met' : 'missed'}`);
    return parts.join(', ');
  };
  const header = `kiln vs BuildKit (dockerd 20.10) and buildah, medians of ${RUNS} rounds; ${cpus().length} CPUs, load average (1/5/15 min) ${loadAtStart} at the start, ${loadAtEnd} at the end`;
  const cols = ['scenario', 'BuildKit', 'buildah', 'kiln', 'vs BuildKit', 'vs buildah', 'KILN_DAEMON=0', 'target'];
  const cells = (r: Row) => [
    `${r.scenario}: ${r.kind}`,
    fmt(r.ms.buildkit),
    fmt(r.ms.buildah),
    fmt(r.ms.kiln),
    `${(r.ms.buildkit / r.ms.kiln).toFixed(1)}x`,
    `${(r.ms.buildah / r.ms.kiln).toFixed(1)}x`,
    `${fmt(r.ms.kiln0)} (${(r.ms.buildkit / r.ms.kiln0).toFixed(1)}x / ${(r.ms.buildah / r.ms.kiln0).toFixed(1)}x)`,
    verdict(r),
  ];
  console.log(`\n${header}\n`);
  if (MARKDOWN) {
    console.log(`| ${cols.join(' | ')} |`);
    console.log(`|${cols.map(() => '---').join('|')}|`);
    for (const r of rows) console.log(`| ${cells(r).join(' | ')} |`);
  } else {
    const widths = [26, 10, 10, 10, 12, 11, 28];
    console.log(cols.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' '));
    for (const r of rows)
      console.log(
        cells(r)
          .map((c, i) => c.padEnd(widths[i] ?? 0))
          .join(' '),
      );
  }
  console.log('\n"vs" columns: how many times faster kiln (the `kiln` command, resident builder) is; KILN_DAEMON=0: one process per build.');
}

const work = mkdtempSync(join(process.env.KILN_BENCH_DIR ?? tmpdir(), 'kiln-compare-bench-'));
const cleanups: Array<() => Promise<unknown>> = [];
let cleaned: Promise<void> | undefined;
/** Stops dockerd, the registry, kiln's daemon and buildah's store, then removes every file the bench made. */
const cleanUp = () =>
  (cleaned ??= (async () => {
    for (const c of cleanups.reverse()) await c().catch((err) => process.stderr.write(`clean-up: ${err}\n`));
    await run('sh', ['-c', `grep -o ' ${work}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l`]).catch(() => {});
    rmSync(work, { recursive: true, force: true });
  })());
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void cleanUp().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143)));
try {
  await main(work, cleanups);
} finally {
  await cleanUp();
}
