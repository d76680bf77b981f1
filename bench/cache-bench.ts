/**
 * The CI case of a registry cache: a fresh root (nothing but the base image) building a project with
 * `--cache-from type=registry,...` seeded by an earlier build's `--cache-to ...,mode=max`, next to the same thing
 * with `buildah build --layers --cache-from/--cache-to` on a fresh storage, a cold build by each, and the floor of
 * pulling the finished image. Everything talks to one Debian docker-registry on 127.0.0.1 (a free port), which
 * also serves the base image (kiln's offline busybox, pushed once), so both builders start from the same bytes.
 *
 * The project: a multi-stage build (a builder stage and `COPY --from`) with a context of 300 small source files,
 * three RUN steps that spend CPU time and write random data (16 + 12 + 8 MB: ~38 MB of incompressible layers in the
 * final image), FROM busybox.
 *
 * Per round, each on fresh state (a new kiln root or buildah storage with only the base image, pulled untimed):
 *   kiln cold       kiln build (no cache anywhere)
 *   buildah cold    buildah build --layers --no-cache
 *   kiln CI         kiln build --cache-from type=registry,ref=HOST/bench/cache:kiln  (RUN steps executed must be 0)
 *   buildah CI      buildah build --layers --cache-from HOST/bench/cache-buildah    (its hits are counted and printed)
 *   kiln pull       kiln pull HOST/bench/app:kiln: the image's own layers (the floor of the CI case)
 *   skopeo copy     skopeo copy of the same image to a dir: (a second reference for the floor; nothing unpacked)
 *   buildah pull    buildah pull HOST/bench/app:buildah (the peer's floor, unpacked into its storage)
 *   kiln no-op      a second build on the cold root, every step local: a build process's fixed cost (not a ratio)
 *   kiln --version  Node start-up and kiln's modules: the start-up part of that fixed cost
 * The caches are seeded once before the rounds (untimed). kiln runs with KILN_DAEMON=0 throughout: a CI machine
 * starts with no resident builder, and on a fresh root the first build would start one (see bench/README.md).
 * Builders take turns going first, round by round; `sync` before each timed step (kiln fsyncs its blobs).
 *
 * Run: npx tsx bench/cache-bench.ts [runs=5]   (needs root, runc, buildah, skopeo, docker-registry; kiln built:
 *      npm run build && bash native/build.sh)
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createBuildah, type Buildah } from '../test/helpers/buildah.js';
import { skopeo, startRegistry, type TestRegistry } from '../test/helpers/registry.js';
import { median, timed } from './lib.js';

const run = promisify(execFile);
const RUNS = Number(process.argv[2] ?? 5);
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
const loadAtStart = load();
const REPO = fileURLToPath(new URL('..', import.meta.url));
const KILN = join(REPO, 'bin/kiln');
const work = mkdtempSync(join(process.env.KILN_BENCH_DIR ?? tmpdir(), 'kiln-cache-bench-'));
let fresh = 0;
const freshDir = (name: string) => join(work, `${name}-${++fresh}`);

/** `kiln --root ROOT ARGS` with one process per command (KILN_DAEMON=0); stdout and stderr together. */
async function kiln(root: string, args: string[]): Promise<string> {
  try {
    const r = await run(KILN, ['--root', root, ...args], { maxBuffer: 64 << 20, env: { ...process.env, KILN_DAEMON: '0' } });
    return r.stdout + r.stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    throw new Error(`kiln --root ${root} ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? String(err)}`);
  }
}

/** A fresh buildah storage (createBuildah's layout: DIR/storage, DIR/run) and a runner for it. */
async function freshBuildah(): Promise<{ b: Buildah; cmd: (args: string[]) => Promise<string> }> {
  const b = await createBuildah(freshDir('buildah'));
  const flags = ['--root', join(b.root, 'storage'), '--runroot', join(b.root, 'run'), '--storage-driver', 'overlay'];
  const cmd = async (args: string[]) => {
    try {
      const r = await run('buildah', [...flags, ...args], { maxBuffer: 64 << 20 });
      return r.stdout + r.stderr;
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      throw new Error(`buildah ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? String(err)}`);
    }
  };
  return { b, cmd };
}

/** Unmounts whatever is still mounted under `dir` (deepest first), then removes it. */
function removeTree(dir: string): void {
  execFileSync('sh', ['-c', `grep -o ' ${dir}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l`]);
  rmSync(dir, { recursive: true, force: true });
}

/** The project: 300 source files of 0.5–3.5 KiB in 10 folders, a package file, and the Dockerfile. */
function makeProject(dir: string, base: string): void {
  const seed = randomBytes(1 << 20);
  for (let d = 0; d < 10; d++) {
    mkdirSync(join(dir, 'src', `mod${d}`), { recursive: true });
    for (let i = 0; i < 30; i++) {
      const n = d * 30 + i;
      const size = 512 + ((n * 7919) % 3072);
      const off = (n * 2654435) % (seed.length - size);
      writeFileSync(join(dir, 'src', `mod${d}`, `file${i}.js`), `// module ${d}/${i}\n${seed.subarray(off, off + size).toString('base64')}\n`);
    }
  }
  writeFileSync(join(dir, 'package.json'), '{ "name": "app", "version": "1.0.0" }\n');
  writeFileSync(
    join(dir, 'Dockerfile'),
    [
      `FROM ${base} AS builder`,
      'WORKDIR /build',
      'COPY package.json ./',
      // "Installing dependencies": CPU time and a 16 MB layer.
      `RUN sh -c 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done' && mkdir -p deps && dd if=/dev/urandom of=deps/blob.bin bs=1M count=16 2>/dev/null`,
      'COPY src ./src',
      // "Compiling": CPU time, an archive of the sources and 12 MB of generated assets.
      `RUN sh -c 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done' && tar -cf out.tar src && dd if=/dev/urandom of=assets.bin bs=1M count=12 2>/dev/null`,
      '',
      `FROM ${base}`,
      'WORKDIR /app',
      'COPY --from=builder /build/deps ./deps',
      'COPY --from=builder /build/out.tar /build/assets.bin ./',
      `RUN sh -c 'i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done' && dd if=/dev/urandom of=/app/runtime.bin bs=1M count=8 2>/dev/null`,
      'CMD ["sh"]',
      '',
    ].join('\n'),
  );
}

/** RUN steps buildah executed in a build's output: a RUN step whose lines up to the next step have no "Using cache". */
function buildahRunsExecuted(output: string): { runs: number; executed: number; pulled: number } {
  const steps = output.split(/^(?=\[\d+\/\d+\] STEP |STEP )/m).filter((s) => /STEP \d+\/\d+: RUN /.test(s));
  const pulled = output.match(/^--> Cache pulled from remote /gm)?.length ?? 0;
  return { runs: steps.length, executed: steps.filter((s) => !/Using cache/.test(s)).length, pulled };
}

const settle = () => run('sync');

async function main(): Promise<void> {
  const reg: TestRegistry = await startRegistry();
  try {
    await bench(reg);
  } finally {
    await reg.stop();
  }
}

async function bench(reg: TestRegistry): Promise<void> {
  const host = reg.host;
  const base = `${host}/base/busybox:latest`;
  const kilnCache = `${host}/bench/cache:kiln`;
  const buildahCache = `${host}/bench/cache-buildah`;
  const kilnApp = `${host}/bench/app:kiln`;
  const buildahApp = `${host}/bench/app:buildah`;

  // The base image, once: kiln's offline busybox (Debian's busybox-static), pushed to the loopback registry.
  const seedRoot = freshDir('kiln-seed-base');
  await kiln(seedRoot, ['base', 'busybox']);
  await kiln(seedRoot, ['push', '-q', '--from', 'busybox', base]);
  removeTree(seedRoot);

  const ctx = join(work, 'project');
  makeProject(ctx, base);
  const kilnHasCache = (await run(KILN, ['build', '--help'])).stdout.includes('--cache-from');

  const kilnRootWithBase = async (name: string) => {
    const root = freshDir(name);
    await kiln(root, ['pull', '-q', base]);
    return root;
  };
  const buildahWithBase = async () => {
    const s = await freshBuildah();
    await s.cmd(['pull', '-q', '--tls-verify=false', base]);
    return s;
  };

  // Seeding (untimed): kiln root A exports its cache (mode=max) and pushes the image; buildah storage A likewise.
  {
    const rootA = await kilnRootWithBase('kiln-seed');
    const cacheTo = kilnHasCache ? ['--cache-to', `type=registry,ref=${kilnCache},mode=max`] : [];
    await kiln(rootA, ['build', '-q', ...cacheTo, '-t', kilnApp, ctx]);
    await kiln(rootA, ['push', '-q', kilnApp]);
    removeTree(rootA);
  }
  let buildahCacheError: string | undefined;
  {
    const { b, cmd } = await buildahWithBase();
    try {
      const out = await cmd(['build', '--layers', '--format', 'docker', '--tls-verify=false', '--cache-to', buildahCache, '-t', buildahApp, ctx]);
      if (!/Pushing cache/.test(out)) buildahCacheError = `buildah --cache-to pushed nothing:\n${out.slice(-2000)}`;
    } catch (err) {
      buildahCacheError = (err as Error).message;
      await cmd(['build', '--layers', '--format', 'docker', '-t', buildahApp, ctx]);
    }
    await cmd(['push', '-q', '--tls-verify=false', buildahApp]);
    await b.destroy();
  }
  const manifest = JSON.parse(await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${kilnApp}`])) as { layers: Array<{ size: number }> };
  const appBytes = manifest.layers.reduce((n, l) => n + l.size, 0);

  const t: Record<string, number[]> = {};
  const add = (k: string, ms: number) => (t[k] ??= []).push(ms);
  const kilnExecuted: number[] = [];
  const kilnImported: string[] = [];

  /**
   * A timed `kiln build` with JSON progress, its wall time under `key` and its phases under `key: PHASE`, from the
   * events' timestamps: start-up (process start to build-start: Node, modules, the root, the Dockerfile and, with
   * --cache-from, the cache manifest and config), steps (build-start to the image export: cache lookups, the layers
   * an imported hit needs), image (writing and naming the image: the imported layers it needs are fetched here),
   * exit (build-done to the process's end).
   */
  const kilnBuild = async (key: string, root: string, args: string[]) => {
    const layersImported: number[] = [];
    const start = Date.now();
    const out = await kiln(root, ['build', '--progress', 'json', ...args]);
    const end = Date.now();
    add(key, end - start);
    const at: Record<string, number> = {};
    for (const line of out.split('\n')) {
      if (!line.startsWith('{')) continue;
      const e = JSON.parse(line) as { type: string; time: string };
      at[e.type] ??= Date.parse(e.time);
      const imported = /^importing cache layer \S+ \((\d+) bytes\)/.exec((e as { status?: string }).status ?? '');
      if (imported) layersImported.push(Number(imported[1]));
    }
    if (at['build-start'] === undefined || at['build-done'] === undefined) return layersImported;
    const exp = at.export ?? at['build-done'];
    add(`${key}: start-up`, at['build-start'] - start);
    add(`${key}: steps`, exp - at['build-start']);
    add(`${key}: image`, at['build-done'] - exp);
    add(`${key}: exit`, end - at['build-done']);
    return layersImported;
  };
  const buildahHits: string[] = [];
  const buildahPulled: number[] = [];

  for (let round = 0; round < RUNS; round++) {
    const kilnSide = async () => {
      const cold = await kilnRootWithBase('kiln-cold');
      await settle();
      add('kiln cold', await timed(() => kiln(cold, ['build', '-q', '-t', 'app', ctx])));
      // Fixed costs, for reading the CI case: a build with every step in the local cache, and a bare process start.
      await settle();
      await kilnBuild('kiln no-op', cold, ['-t', 'app', ctx]);
      add('kiln --version', await timed(() => kiln(cold, ['--version'])));
      removeTree(cold);

      if (kilnHasCache) {
        const ci = await kilnRootWithBase('kiln-ci');
        const meta = join(work, `meta-${round}.json`);
        await settle();
        const layers = await kilnBuild('kiln CI', ci, ['--cache-from', `type=registry,ref=${kilnCache}`, '--metadata-file', meta, '-t', 'app', ctx]);
        const executed = (JSON.parse(readFileSync(meta, 'utf8')) as { 'kiln.steps': { executed: number } })['kiln.steps'].executed;
        kilnExecuted.push(executed);
        kilnImported.push(`${layers.length} (${(layers.reduce((n, b) => n + b, 0) / 1e6).toFixed(1)} MB)`);
        if (executed !== 0) {
          throw new Error(`kiln CI build on a fresh root with --cache-from executed ${executed} steps (expected 0): the registry cache import did not work`);
        }
        removeTree(ci);
      }

      const pull = await kilnRootWithBase('kiln-pull');
      await settle();
      add('kiln pull', await timed(() => kiln(pull, ['pull', '-q', kilnApp])));
      removeTree(pull);

      const dir = freshDir('skopeo-dir');
      await settle();
      add('skopeo copy', await timed(() => skopeo(['copy', '-q', '--src-tls-verify=false', `docker://${kilnApp}`, `dir:${dir}`])));
      removeTree(dir);
    };
    const buildahSide = async () => {
      {
        const { b, cmd } = await buildahWithBase();
        await settle();
        add('buildah cold', await timed(() => cmd(['build', '--layers', '--no-cache', '--format', 'docker', '-q', '-t', 'app', ctx])));
        await b.destroy();
      }
      if (!buildahCacheError) {
        const { b, cmd } = await buildahWithBase();
        let out = '';
        await settle();
        add(
          'buildah CI',
          await timed(async () => {
            out = await cmd(['build', '--layers', '--format', 'docker', '--tls-verify=false', '--cache-from', buildahCache, '-t', 'app', ctx]);
          }),
        );
        const { runs, executed, pulled } = buildahRunsExecuted(out);
        buildahHits.push(`${runs - executed}/${runs}`);
        buildahPulled.push(pulled);
        await b.destroy();
      }
      {
        const { b, cmd } = await buildahWithBase();
        await settle();
        add('buildah pull', await timed(() => cmd(['pull', '-q', '--tls-verify=false', buildahApp])));
        await b.destroy();
      }
    };
    if (round % 2 === 0) {
      await kilnSide();
      await buildahSide();
    } else {
      await buildahSide();
      await kilnSide();
    }
  }

  const m = (k: string) => (t[k] ? median(t[k]) : NaN);
  const ms = (k: string) => (t[k] ? `${m(k).toFixed(0)} ms` : 'n/a');
  const pad = (s: string, w: number) => s.padEnd(w);
  console.log(
    `\nregistry cache, CI case: medians of ${RUNS} rounds, fresh state for each build; ${cpus().length} CPUs, load average (1/5/15 min) ${loadAtStart} at the start, ${load()} now`,
  );
  console.log(`app image: ${manifest.layers.length} layers, ${(appBytes / 1e6).toFixed(1)} MB compressed; kiln with KILN_DAEMON=0 (one process per command)\n`);
  const rows: Array<[string, string, string]> = [
    ['kiln cold', 'kiln build on a fresh root (base only)', 'kiln cold'],
    ['buildah cold', 'buildah build --layers --no-cache, fresh storage', 'buildah cold'],
    ['kiln CI', 'kiln build --cache-from type=registry, fresh root', 'kiln CI'],
    ['buildah CI', 'buildah build --layers --cache-from, fresh storage', 'buildah CI'],
    ['kiln pull', 'kiln pull of the app image, fresh root (floor)', 'kiln pull'],
    ['skopeo copy', 'skopeo copy of the app image to dir: (reference)', 'skopeo copy'],
    ['buildah pull', 'buildah pull of its app image, fresh storage', 'buildah pull'],
    ['kiln no-op', 'kiln build again, every step in the local cache', 'kiln no-op'],
    ['kiln --version', 'kiln --version (Node start-up + modules)', 'kiln --version'],
  ];
  console.log(`${pad('scenario', 54)} ${pad('median', 10)} runs (ms)`);
  for (const [, label, k] of rows) console.log(`${pad(label, 54)} ${pad(ms(k), 10)} ${(t[k] ?? []).map((x) => x.toFixed(0)).join(' ')}`);

  const phases = ['start-up', 'steps', 'image', 'exit'];
  console.log("\nwhere the time goes (medians of each phase, from the build's JSON progress timestamps)");
  for (const k of ['kiln CI', 'kiln no-op']) {
    if (t[`${k}: start-up`]) console.log(`  ${pad(k, 11)} ${phases.map((p) => `${p} ${m(`${k}: ${p}`).toFixed(0)} ms`).join(', ')}`);
  }

  const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) ? `${(a / b).toFixed(2)}x` : 'n/a');
  const verdict = (ok: boolean | undefined) => (ok === undefined ? 'not measured' : ok ? 'met' : 'MISSED');
  const fin = (...xs: number[]) => xs.every(Number.isFinite);
  console.log('\nratios');
  console.log(
    `  buildah CI / kiln CI        ${pad(ratio(m('buildah CI'), m('kiln CI')), 8)} target >= 3x: ${verdict(fin(m('buildah CI'), m('kiln CI')) ? m('buildah CI') / m('kiln CI') >= 3 : undefined)}`,
  );
  console.log(
    `  kiln CI / kiln pull         ${pad(ratio(m('kiln CI'), m('kiln pull')), 8)} target <= 1.5x: ${verdict(fin(m('kiln CI'), m('kiln pull')) ? m('kiln CI') / m('kiln pull') <= 1.5 : undefined)}`,
  );
  console.log(`  kiln CI / skopeo copy       ${ratio(m('kiln CI'), m('skopeo copy'))}`);
  console.log(`  kiln cold / kiln CI         ${ratio(m('kiln cold'), m('kiln CI'))}   (what the cache saves kiln)`);
  console.log(`  buildah cold / buildah CI   ${ratio(m('buildah cold'), m('buildah CI'))}   (what the cache saves buildah)`);
  console.log(`  buildah cold / kiln cold    ${ratio(m('buildah cold'), m('kiln cold'))}`);
  console.log(`  buildah CI / buildah pull   ${ratio(m('buildah CI'), m('buildah pull'))}`);

  console.log(
    kilnHasCache
      ? `\nkiln CI: steps executed per round ${kilnExecuted.join(', ')} (must be 0: every step from the registry cache); layers fetched from the cache ${kilnImported.join(', ')}`
      : '\nkiln CI: NOT MEASURED: this kiln has no --cache-from (build the branch with the registry cache)',
  );
  console.log(
    buildahCacheError
      ? `buildah CI: NOT MEASURED: buildah's registry cache failed on this version:\n${buildahCacheError}`
      : `buildah CI: RUN steps served from the registry cache per round ${buildahHits.join(', ')} (hit/total); cache images pulled (one per step) ${buildahPulled.join(', ')}`,
  );
  if (!kilnHasCache) process.exitCode = 1;
}

try {
  await main();
} finally {
  removeTree(work);
}
