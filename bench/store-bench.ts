/**
 * The content store and `kiln save` on a 1 GiB blob, next to peers in the same run (ratios, best of N runs):
 *   write:  writeBlob(file) into the store (hash while streaming, fsync, rename)   vs  sha256sum file
 *   verify: hashBlob(digest) (re-hash a stored blob)                                vs  sha256sum file
 *   save:   saveArchive(docker) of a one-layer 1 GiB image to a file                 vs  skopeo copy oci: -> docker-archive:
 * Peak RSS (maxRSS) is printed after each phase: streams, never whole layers in memory, so it stays flat.
 * Run: npx tsx bench/store-bench.ts [runs] [MiB]   (KILN_BENCH_DIR picks the scratch filesystem)
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, openSync, writeSync, closeSync, fsyncSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashBlob, writeBlob } from '../src/cache/content-store.js';
import { openRoot } from '../src/cache/root.js';
import { resolveSaveItems, saveArchive } from '../src/exporter/archive-save.js';
import { MediaType } from '../src/image/types.js';

const RUNS = Number(process.argv[2] ?? 3);
const MIB = Number(process.argv[3] ?? 1024);
const BYTES = MIB * 1024 * 1024;
const work = mkdtempSync(join(process.env.KILN_BENCH_DIR ?? tmpdir(), 'kiln-store-bench-'));

const rssMiB = () => Math.round(process.resourceUsage().maxRSS / 1024);
const mbps = (ms: number) => (BYTES / 1e6 / (ms / 1000)).toFixed(0);

async function best(fn: () => Promise<void> | void, before?: () => Promise<void> | void): Promise<number> {
  let min = Infinity;
  for (let i = 0; i < RUNS; i++) {
    await before?.();
    const t = performance.now();
    await fn();
    min = Math.min(min, performance.now() - t);
  }
  return min;
}

function makeFile(path: string): void {
  // Random 1 MiB blocks, each different, so nothing downstream can shortcut repeated content.
  const fd = openSync(path, 'w');
  const seed = randomBytes(1 << 20);
  for (let i = 0; i < MIB; i++) {
    seed.writeUInt32LE(i, 0);
    writeSync(fd, seed);
  }
  fsyncSync(fd);
  closeSync(fd);
}

function sha256sum(path: string): void {
  const r = spawnSync('sha256sum', [path], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sha256sum failed: ${r.stderr}`);
}

function row(name: string, kilnMs: number, peer: string, peerMs: number): void {
  const ratio = (peerMs / kilnMs).toFixed(2);
  console.log(
    `${name.padEnd(8)} kiln ${mbps(kilnMs).padStart(5)} MB/s (${kilnMs.toFixed(0)} ms)   ${peer} ${mbps(peerMs).padStart(5)} MB/s (${peerMs.toFixed(0)} ms)   speed ratio kiln/peer ${ratio}   peak RSS ${rssMiB()} MiB`,
  );
}

try {
  const file = join(work, 'blob.bin');
  makeFile(file);
  const root = await openRoot(join(work, 'root'));
  console.log(`store-bench: ${MIB} MiB blob, best of ${RUNS}, baseline peak RSS ${rssMiB()} MiB`);

  const peerHash = await best(() => sha256sum(file));
  let digest = '';
  const write = await best(
    async () => {
      digest = (await writeBlob(root.content, createReadStream(file, { highWaterMark: 1 << 20 }))).digest;
    },
    async () => {
      if (digest) await root.content.delete(digest);
    },
  );
  row('write', write, 'sha256sum', peerHash);
  const verify = await best(async () => {
    const got = await hashBlob(root.content, digest);
    if (got.digest !== digest) throw new Error('verify mismatch');
  });
  row('verify', verify, 'sha256sum', peerHash);

  // A one-layer image whose layer is the blob itself (an uncompressed tar would be hashed the same way).
  const img = await root.images.writeImage({
    config: { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digest] } },
    layers: [{ mediaType: MediaType.OciLayer, digest, size: BYTES }],
    tags: ['bench:1'],
  });
  const out = join(work, 'save.tar');
  const save = await best(
    async () => {
      await saveArchive(root.content, await resolveSaveItems(root.images, ['bench:1']), createWriteStream(out), { format: 'docker' });
    },
    () => rmSync(out, { force: true }),
  );
  const skopeoOut = join(work, 'skopeo.tar');
  const skopeo = await best(
    () => {
      const r = spawnSync('skopeo', ['copy', '-q', `oci:${root.paths.oci}:docker.io/library/bench:1`, `docker-archive:${skopeoOut}:bench:1`], {
        encoding: 'utf8',
      });
      if (r.status !== 0) throw new Error(`skopeo failed: ${r.stderr}`);
    },
    () => rmSync(skopeoOut, { force: true }),
  );
  row('save', save, 'skopeo copy', skopeo);
  console.log(`image ${img.configDigest.slice(7, 19)} saved; peak RSS stays ~baseline: streams only`);
  await root.close();
} finally {
  rmSync(work, { recursive: true, force: true });
}
