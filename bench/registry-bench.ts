// Registry transfer benchmark: an image of 5 layers × 50 MB pushed to and pulled from a loopback docker-registry,
// by kiln (pushImage/pullImage) and by skopeo copy of the same image, each into its own fresh registry so neither
// finds the other's blobs. Prints seconds, MB/s and kiln/skopeo ratios (below 1 = kiln faster), medians over
// runs (sync before each step, order alternating); then a second kiln push of the same image, counting its requests (it must be manifest round trips only).
// Run: node --import tsx bench/registry-bench.ts [runs=3] [layerMB=50] [layers=5]
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openRoot } from '../src/cache/root.js';
import { pullImage } from '../src/registry/pull.js';
import { pushImage } from '../src/registry/push.js';
import { startRegistry, type TestRegistry } from '../test/helpers/registry.js';
import { makeImage } from '../test/integration/registry/fixture.js';

const run = promisify(execFile);
const runs = Number(process.argv[2] ?? 3);
const layerMB = Number(process.argv[3] ?? 50);
const nLayers = Number(process.argv[4] ?? 5);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const time = async (fn: () => Promise<unknown>): Promise<number> => {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
};

const base = await mkdtemp(join(tmpdir(), 'kiln-bench-registry-'));
const regs: TestRegistry[] = [];
try {
  const src = await openRoot(join(base, 'src'));
  // gzip layers, as registries hold them: skopeo would otherwise compress plain tars on push (different work, different image).
  const { layers } = await makeImage(
    src,
    'bench:1',
    Array.from({ length: nLayers }, () => layerMB * 1_000_000),
    undefined,
    { gzip: true },
  );
  const totalMB = layers.reduce((n, l) => n + l.size, 0) / 1e6;
  const layout = `oci:${src.paths.oci}:docker.io/library/bench:1`;
  const kPush: number[] = [],
    sPush: number[] = [],
    kPull: number[] = [],
    sPull: number[] = [];

  // Fairness: `sync` before every timed step (kiln's store fsyncs each blob, so dirty pages left by the previous
  // step would be charged to it), and alternate which tool goes first.
  const settle = () => run('sync');
  for (let i = 0; i < runs; i++) {
    const rk = await startRegistry();
    regs.push(rk);
    const rs = await startRegistry();
    regs.push(rs);
    const dst = await openRoot(join(base, `pull-${i}`));
    const out = join(base, `skopeo-${i}`);
    const steps = {
      kPush: () => pushImage(src, `${rk.host}/bench/img:1`, { source: 'bench:1' }),
      sPush: () => run('skopeo', ['copy', '-q', '--dest-tls-verify=false', layout, `docker://${rs.host}/bench/img:1`], { maxBuffer: 1 << 20 }),
      kPull: () => pullImage(dst, `${rk.host}/bench/img:1`),
      sPull: () => run('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${rs.host}/bench/img:1`, `oci:${out}:x`], { maxBuffer: 1 << 20 }),
    };
    const order: Array<keyof typeof steps> = i % 2 === 0 ? ['kPush', 'sPush', 'kPull', 'sPull'] : ['sPush', 'kPush', 'sPull', 'kPull'];
    const times: Record<string, number> = {};
    for (const step of order) {
      await settle();
      times[step] = await time(steps[step]);
    }
    kPush.push(times.kPush!);
    sPush.push(times.sPush!);
    kPull.push(times.kPull!);
    sPull.push(times.sPull!);
    await dst.close();
    await rm(join(base, `pull-${i}`), { recursive: true, force: true });
    await rm(out, { recursive: true, force: true });
    if (i < runs - 1) {
      await rk.stop();
      await rs.stop();
      regs.splice(0);
    }
  }

  const requests: string[] = [];
  await pushImage(src, `${regs[0]!.host}/bench/img:1`, { source: 'bench:1', onRequest: (m, u) => requests.push(`${m} ${new URL(u).pathname}`) });
  const api = requests.filter((r) => !r.endsWith('/v2/'));

  const row = (name: string, k: number[], s: number[]) =>
    console.log(
      `${name.padEnd(5)} kiln ${median(k).toFixed(2)}s (${(totalMB / median(k)).toFixed(0)} MB/s)  skopeo ${median(s).toFixed(2)}s (${(totalMB / median(s)).toFixed(0)} MB/s)  ratio kiln/skopeo ${(median(k) / median(s)).toFixed(2)}`,
    );
  console.log(`image: ${nLayers} layers × ${layerMB} MB = ${totalMB.toFixed(0)} MB, loopback docker-registry, median of ${runs}`);
  row('push', kPush, sPush);
  row('pull', kPull, sPull);
  console.log(`second push: ${api.length} registry requests besides the version check: ${api.join(', ')}`);
  console.log(`second push touches blobs: ${api.some((r) => r.includes('/blobs/')) ? 'YES (regression)' : 'no'}`);
  await src.close();
} finally {
  for (const r of regs) await r.stop();
  await rm(base, { recursive: true, force: true });
}
