// COPY source checksums on a large context (5,000 small files + three 50 MB files): kiln's
// checksum with its stat cache (cold, then no-op rebuilds) against the peer approach of re-hashing every
// byte (sha256sum over the same files, what a builder without a stat cache pays on each rebuild).
// Prints medians and the ratio. Run: node --import tsx bench/fileops-checksum.mts [runs]
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checksumSources } from '../src/builder/fileops/checksum.js';
import { openStatCache } from '../src/builder/fileops/stat-cache.js';

const runs = Number(process.argv[2] ?? 7);
const base = mkdtempSync(join(tmpdir(), 'kiln-bench-fileops-'));
const ctx = join(base, 'ctx');
const cacheFile = join(base, 'state', 'build-cache', 'stat-cache.v1');
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

try {
  const files: string[] = [];
  for (let d = 0; d < 50; d++) {
    mkdirSync(join(ctx, `dir${d}`), { recursive: true });
    for (let f = 0; f < 100; f++) {
      const p = join(ctx, `dir${d}`, `f${f}.txt`);
      writeFileSync(p, `file ${d}/${f}\n`.repeat(10));
      files.push(p);
    }
  }
  for (let i = 0; i < 3; i++) {
    const p = join(ctx, `big${i}.bin`);
    writeFileSync(p, randomBytes(50 << 20));
    files.push(p);
  }
  // Age the files past the stat cache's racy window (ctime cannot be set, so wait it out).
  for (const p of files) utimesSync(p, new Date(Date.now() - 3600_000), new Date(Date.now() - 3600_000));
  await new Promise((r) => setTimeout(r, 2100));

  const t0 = performance.now();
  const cold = await checksumSources(ctx, ['.'], { statCache: openStatCache(cacheFile), ownership: 'reset' });
  const coldMs = performance.now() - t0;

  const warm: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const r = await checksumSources(ctx, ['.'], { statCache: openStatCache(cacheFile), ownership: 'reset' });
    warm.push(performance.now() - t);
    if (r.digest !== cold.digest || r.hashed !== 0) throw new Error('no-op rebuild re-hashed or changed the digest');
  }
  const peer: number[] = [];
  for (let i = 0; i < Math.min(runs, 5); i++) {
    const t = performance.now();
    execFileSync('sh', ['-c', `find . -type f -print0 | sort -z | xargs -0 sha256sum > /dev/null`], { cwd: ctx });
    peer.push(performance.now() - t);
  }
  console.log(`context: ${files.length} files, ${Object.keys(cold.manifest).length} entries`);
  console.log(`kiln cold checksum (hash all):      ${coldMs.toFixed(1)} ms`);
  console.log(`kiln no-op checksum (stat cache):   median ${median(warm).toFixed(1)} ms over ${runs}`);
  console.log(`peer sha256sum of every file:       median ${median(peer).toFixed(1)} ms`);
  console.log(`ratio peer / kiln no-op:            ${(median(peer) / median(warm)).toFixed(1)}x`);
} finally {
  rmSync(base, { recursive: true, force: true });
}
