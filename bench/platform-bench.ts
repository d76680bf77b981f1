/**
 * A two-platform build: `kiln build --platform linux/amd64,linux/arm64` next to `buildah build --platform
 * linux/amd64,linux/arm64 --manifest …` (Debian's buildah) in the same run, on the same context. The base is a
 * multi-platform busybox index (kiln base busybox --platform …) in a loopback docker-registry, so both pull it
 * per platform and neither reads the other's store. The Dockerfile has a `FROM --platform=$BUILDPLATFORM` builder
 * stage doing ~1 s of shell work, and a per-platform stage with `RUN uname -m` (qemu for arm64) and `COPY --from`.
 * Columns: cold (fresh store, median of N), no-op rebuild (median of N), and kiln's no-op rebuild of one platform.
 * Needs root, runc, qemu-user-static registered with flag F (`kiln setup binfmt`), buildah, docker-registry and
 * the arm64 busybox-static .deb (scripts/setup.sh). Run: npm run build && npx tsx bench/platform-bench.ts [runs]
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createBuildah, type Buildah } from '../test/helpers/buildah.js';
import { startRegistry } from '../test/helpers/registry.js';
import { median, timed } from './lib.js';

const run = promisify(execFile);
const RUNS = Number(process.argv[2] ?? 3);
const REPO = fileURLToPath(new URL('..', import.meta.url));
const KILN = join(REPO, 'bin/kiln');
const PLATFORMS = 'linux/amd64,linux/arm64';
const work = mkdtempSync(join(process.env.KILN_BENCH_DIR ?? tmpdir(), 'kiln-platform-bench-'));
const loadAtStart = loadavg()
  .map((l) => l.toFixed(2))
  .join(' ');

async function kiln(root: string, args: string[]): Promise<void> {
  await run(KILN, ['--root', root, ...args], { maxBuffer: 64 << 20, env: { ...process.env, KILN_DAEMON: '0' } });
}

async function buildah(dir: string, args: string[]): Promise<void> {
  const base = ['--root', join(dir, 'storage'), '--runroot', join(dir, 'run'), '--storage-driver', 'overlay'];
  await run('buildah', [...base, ...args], { maxBuffer: 64 << 20 });
}

const reg = await startRegistry();
const buildahs: Buildah[] = [];
try {
  const seed = join(work, 'seed');
  await kiln(seed, ['base', 'busybox', '--platform', PLATFORMS]);
  const baseRef = `${reg.host}/bench/busybox:latest`;
  await kiln(seed, ['tag', 'busybox:latest', baseRef]);
  await kiln(seed, ['push', baseRef]);
  const ctx = join(work, 'ctx');
  mkdirSync(ctx);
  writeFileSync(
    join(ctx, 'Dockerfile'),
    `FROM --platform=$BUILDPLATFORM ${baseRef} AS builder
RUN i=0; while [ $i -lt 150000 ]; do i=$((i+1)); done; echo "tools built: $i" > /tools
FROM ${baseRef}
ARG TARGETARCH
RUN uname -m > /arch && echo "$TARGETARCH" > /targetarch
COPY --from=builder /tools /tools
`,
  );
  const kilnRoot = (i: number) => join(work, `kiln-${i}`);
  for (let i = 0; i < RUNS; i++) buildahs.push(await createBuildah(join(work, `buildah-${i}`)));
  const buildahDir = (i: number) => buildahs[i]!.root;
  const kilnBuild = (root: string, platforms = PLATFORMS) => kiln(root, ['build', '--platform', platforms, '-t', 'bench:1', ctx]);
  const buildahBuild = (dir: string) =>
    buildah(dir, ['build', '--layers', '--tls-verify=false', '--platform', PLATFORMS, '--manifest', `bench-${Date.now()}`, '-f', join(ctx, 'Dockerfile'), ctx]);

  const kilnCold: number[] = [];
  const buildahCold: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    kilnCold.push(await timed(() => kilnBuild(kilnRoot(i))));
    buildahCold.push(await timed(() => buildahBuild(buildahDir(i))));
  }
  const kilnNoop: number[] = [];
  const buildahNoop: number[] = [];
  const kilnNoopOne: number[] = [];
  await kiln(kilnRoot(0), ['build', '--platform', 'linux/amd64', '-t', 'one:1', ctx]);
  for (let i = 0; i < RUNS; i++) {
    kilnNoop.push(await timed(() => kilnBuild(kilnRoot(0))));
    kilnNoopOne.push(await timed(() => kiln(kilnRoot(0), ['build', '--platform', 'linux/amd64', '-t', 'one:1', ctx])));
    buildahNoop.push(await timed(() => buildahBuild(buildahDir(0))));
  }
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  console.log(`two-platform build (${PLATFORMS}), median of ${RUNS}; load at start ${loadAtStart}`);
  console.log(`| | kiln | buildah | buildah / kiln |`);
  console.log(`|---|---|---|---|`);
  console.log(`| cold | ${s(median(kilnCold))} | ${s(median(buildahCold))} | ${(median(buildahCold) / median(kilnCold)).toFixed(1)}x |`);
  console.log(`| no-op rebuild | ${s(median(kilnNoop))} | ${s(median(buildahNoop))} | ${(median(buildahNoop) / median(kilnNoop)).toFixed(1)}x |`);
  console.log(`| kiln no-op rebuild, one platform (linux/amd64) | ${s(median(kilnNoopOne))} | | |`);
} finally {
  await reg.stop();
  for (const b of buildahs) await b.destroy().catch(() => {});
  rmSync(work, { recursive: true, force: true });
}
