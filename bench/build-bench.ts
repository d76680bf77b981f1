/**
 * kiln build next to `buildah build --layers` (Debian's buildah, runc + overlay storage) in the same run, on the
 * same contexts, both through their CLIs (kiln from dist/: run `npm run build` first). Medians of N runs:
 *   small   fixtures/hello (FROM busybox, WORKDIR, COPY, RUN): cold, no-op rebuild, one-file change
 *   large   5,000 small files + three 50 MB files, `COPY . /ctx` + RUN: cold, no-op rebuild, one-file change
 *   runs30  30 sequential RUN steps: cold (per-RUN overhead = cold / 30)
 * Run: npx tsx bench/build-bench.ts [runs]   (needs root, runc, buildah, skopeo)
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createBuildah } from '../test/helpers/buildah.js';
import { median, timed } from './lib.js';

const run = promisify(execFile);
const RUNS = Number(process.argv[2] ?? 3);
const REPO = fileURLToPath(new URL('..', import.meta.url));
const KILN = join(REPO, 'bin/kiln.js');
const work = mkdtempSync(join(process.env.KILN_BENCH_DIR ?? tmpdir(), 'kiln-build-bench-'));
const kilnRoot = join(work, 'kiln-root');


async function kiln(args: string[]): Promise<void> {
  await run(process.execPath, [KILN, '--root', kilnRoot, ...args], { maxBuffer: 64 << 20 });
}

function makeLarge(dir: string): void {
  const seed = randomBytes(1 << 20);
  for (let d = 0; d < 50; d++) {
    mkdirSync(join(dir, `dir${d}`), { recursive: true });
    for (let i = 0; i < 100; i++) {
      const size = 1024 + ((d * 100 + i) * 7919) % 7168;
      const off = ((d * 100 + i) * 131) % (seed.length - size);
      writeFileSync(join(dir, `dir${d}`, `file${i}.txt`), seed.subarray(off, off + size));
    }
  }
  for (let i = 0; i < 3; i++) writeFileSync(join(dir, `big${i}.bin`), Buffer.concat([randomBytes(25 << 20), Buffer.alloc(25 << 20, i)]));
  writeFileSync(join(dir, 'Dockerfile'), 'FROM busybox\nCOPY . /ctx\nRUN ls /ctx | wc -l > /count\n');
}

interface Row { name: string; kiln: number; buildah: number }

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
  const measure = async (name: string, k: () => Promise<unknown>, b: () => Promise<unknown>, before?: () => void) => {
    const ks: number[] = [];
    const bs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      before?.();
      ks.push(await timed(k));
      before?.();
      bs.push(await timed(b));
    }
    rows.push({ name, kiln: median(ks), buildah: median(bs) });
  };
  const kb = (ctx: string, extra: string[] = []) => () => kiln(['build', '-q', '-t', 'bench', ...extra, ctx]);
  const bb = (ctx: string, extra: Record<string, string> = {}) => async () => {
    const r = await buildah.build({ contextDir: ctx, dockerfile: join(ctx, 'Dockerfile'), tag: 'bench', buildArgs: extra });
    if (r.code !== 0) throw new Error(r.output);
  };
  const bbNoCache = (ctx: string) => async () => {
    await run('buildah', ['--root', join(work, 'buildah/storage'), '--runroot', join(work, 'buildah/run'), '--storage-driver', 'overlay',
      'build', '--layers', '--no-cache', '--format', 'docker', '--pull-never', '-q', '-t', 'bench', ctx], { maxBuffer: 64 << 20 });
  };
  let n = 0;
  const touchOne = (ctx: string, file: string) => () => writeFileSync(join(ctx, file), `change ${++n}\n`);

  for (const [name, ctx, file] of [['small', small, 'message.txt'], ['large', large, 'dir7/file7.txt']] as const) {
    await measure(`${name}: cold build`, kb(ctx, ['--no-cache']), bbNoCache(ctx));
    await kb(ctx)();
    await bb(ctx)();
    await measure(`${name}: no-op rebuild`, kb(ctx), bb(ctx));
    await measure(`${name}: one-file change`, kb(ctx), bb(ctx), touchOne(ctx, file));
  }
  await measure('runs30: cold build (30 RUN)', kb(runs30, ['--no-cache']), bbNoCache(runs30));

  const pad = (s: string, w: number) => s.padEnd(w);
  console.log(`\nkiln build vs buildah build --layers, medians of ${RUNS} runs\n`);
  console.log(`${pad('scenario', 32)} ${pad('kiln', 10)} ${pad('buildah', 10)} speed-up`);
  for (const r of rows) console.log(`${pad(r.name, 32)} ${pad(`${r.kiln.toFixed(0)} ms`, 10)} ${pad(`${r.buildah.toFixed(0)} ms`, 10)} ${(r.buildah / r.kiln).toFixed(1)}x`);
  const k30 = rows.at(-1)!;
  console.log(`\nper-RUN overhead (cold 30-RUN build / 30): kiln ${(k30.kiln / 30).toFixed(0)} ms, buildah ${(k30.buildah / 30).toFixed(0)} ms`);
  await buildah.destroy();
}

try {
  await main();
} finally {
  execFileSync('sh', ['-c', `grep -o ' ${work}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l`]);
  rmSync(work, { recursive: true, force: true });
}
