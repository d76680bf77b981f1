/** Timing helpers shared by the benchmarks (medians of wall-clock runs, in milliseconds) and their large context. */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Wall-clock milliseconds that `fn` takes. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

/** The median of a non-empty list (the upper one of the middle two for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * The large build context: 5,000 files of 1–8 KiB in 50 directories plus three 50 MB files (half random, half
 * constant), and a Dockerfile that copies it all and runs one command over it.
 */
export function makeLarge(dir: string): void {
  const seed = randomBytes(1 << 20);
  for (let d = 0; d < 50; d++) {
    mkdirSync(join(dir, `dir${d}`), { recursive: true });
    for (let i = 0; i < 100; i++) {
      const size = 1024 + (((d * 100 + i) * 7919) % 7168);
      const off = ((d * 100 + i) * 131) % (seed.length - size);
      writeFileSync(join(dir, `dir${d}`, `file${i}.txt`), seed.subarray(off, off + size));
    }
  }
  for (let i = 0; i < 3; i++) writeFileSync(join(dir, `big${i}.bin`), Buffer.concat([randomBytes(25 << 20), Buffer.alloc(25 << 20, i)]));
  writeFileSync(join(dir, 'Dockerfile'), 'FROM busybox\nCOPY . /ctx\nRUN ls /ctx | wc -l > /count\n');
}
