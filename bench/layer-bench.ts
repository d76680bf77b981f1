/**
 * Layer packing and unpacking, kiln next to GNU tar in the same run (ratios, medians of N runs, warm cache).
 *   pack:   layerTar(dir) -> file            vs  tar -cf file -C dir .
 *   gzip:   writeLayer(gzip) into a store    vs  tar -c | gzip -1 > file
 *   unpack: applyLayer(file) -> new dir      vs  tar --xattrs -xpf file -C new dir
 *   mknod:  native helper vs spawning mknod(1) (why kiln has an addon)
 * Tree: 5,000 small files (1-8 KiB, 50 dirs) + three 50 MB files. Run: npx tsx bench/layer-bench.ts [runs]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { applyLayer } from '../src/cache/apply-layer.js';
import { createContentStore } from '../src/cache/content-store.js';
import { dirTar } from '../src/layers/layer-diff.js';
import { writeLayer } from '../src/exporter/layer-writer.js';
import { makeNode, S_IFCHR, splitDev } from '../src/native/fsx.js';

const RUNS = Number(process.argv[2] ?? 5);
const work = mkdtempSync(join(process.env.KILN_BENCH_DIR ?? tmpdir(), 'kiln-layer-bench-'));

function makeTree(dir: string): number {
  let bytes = 0;
  const seed = randomBytes(1 << 20);
  for (let d = 0; d < 50; d++) {
    mkdirSync(join(dir, `dir${d}`), { recursive: true });
    for (let i = 0; i < 100; i++) {
      const size = 1024 + (((d * 100 + i) * 7919) % 7168);
      const off = ((d * 100 + i) * 131) % (seed.length - size);
      writeFileSync(join(dir, `dir${d}`, `file${i}.txt`), seed.subarray(off, off + size));
      bytes += size;
    }
  }
  for (let i = 0; i < 3; i++) {
    const big = Buffer.concat([randomBytes(25 << 20), Buffer.alloc(25 << 20, i)]);
    writeFileSync(join(dir, `big${i}.bin`), big);
    bytes += big.length;
  }
  return bytes;
}

async function time(fn: () => Promise<void> | void): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

async function median(fn: () => Promise<void> | void, before?: () => void): Promise<number> {
  const ts: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    before?.();
    ts.push(await time(fn));
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)]!;
}

function row(name: string, kiln: number, peer: number, peerName: string, mb: number): void {
  const rate = (ms: number) => `${(mb / (ms / 1000)).toFixed(0)} MB/s`;
  console.log(
    `${name.padEnd(8)} kiln ${kiln.toFixed(0).padStart(6)} ms (${rate(kiln)})   ${peerName} ${peer.toFixed(0).padStart(6)} ms (${rate(peer)})   kiln/peer time ${(kiln / peer).toFixed(2)}x`,
  );
}

try {
  const src = join(work, 'src');
  mkdirSync(src);
  const bytes = makeTree(src);
  const mb = bytes / 1e6;
  console.log(`tree: 5,000 small files + 3 x 50 MB = ${mb.toFixed(0)} MB; median of ${RUNS} runs; warm page cache`);
  const kilnTar = join(work, 'kiln.tar'),
    gnuTar = join(work, 'gnu.tar');

  const packKiln = await median(() => pipeline(dirTar(src), createWriteStream(kilnTar)));
  const packGnu = await median(() => {
    execFileSync('tar', ['-cf', gnuTar, '-C', src, '.']);
  });
  row('pack', packKiln, packGnu, 'tar -c', mb);

  const store = createContentStore(join(work, 'oci'));
  const gzKiln = await median(async () => {
    await writeLayer(store, dirTar(src), { compression: 'gzip' });
  });
  const gzGnu = await median(() => {
    execFileSync('sh', ['-c', `tar -cf - -C '${src}' . | gzip -1 > '${gnuTar}.gz'`]);
  });
  row('gzip', gzKiln, gzGnu, 'tar|gzip -1', mb);

  const out = join(work, 'out');
  const fresh = () => {
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out);
  };
  const unKiln = await median(async () => {
    await applyLayer(createReadStream(kilnTar), out);
  }, fresh);
  const unGnu = await median(() => {
    execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-xpf', kilnTar, '-C', out]);
  }, fresh);
  row('unpack', unKiln, unGnu, 'tar -x', mb);

  const nodes = join(work, 'nodes');
  mkdirSync(nodes);
  const N = 200;
  splitDev(0); // load the addon outside the timing
  const nat = await time(() => {
    for (let i = 0; i < N; i++) makeNode(join(nodes, `n${i}`), S_IFCHR, 0, 0);
  });
  for (let i = 0; i < N; i++) unlinkSync(join(nodes, `n${i}`));
  const spawned = await time(() => {
    for (let i = 0; i < N; i++) spawnSync('mknod', [join(nodes, `n${i}`), 'c', '0', '0']);
  });
  console.log(
    `mknod    native ${((nat * 1000) / N).toFixed(1)} us/node   spawned mknod(1) ${((spawned * 1000) / N).toFixed(0)} us/node   (${(spawned / nat).toFixed(0)}x)`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
