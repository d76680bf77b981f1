/** Timing helpers shared by the benchmarks (medians of wall-clock runs, in milliseconds) and their contexts. */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

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

export interface Scenario {
  name: string;
  dir: string;
  /** The file a one-file change rewrites. */
  file: string;
  push?: boolean;
}

/**
 * The contexts of compare-bench.ts and profile-run.ts under `work`: small (fixtures/hello), multi-stage,
 * metadata-heavy, runs30 and large, each with the file its one-file change rewrites.
 */
export function writeBenchContexts(work: string): Scenario[] {
  const small = join(work, 'small');
  cpSync(fileURLToPath(new URL('../fixtures/hello', import.meta.url)), small, { recursive: true });

  const multi = join(work, 'multi-stage');
  mkdirSync(join(multi, 'src'), { recursive: true });
  for (let i = 0; i < 20; i++) writeFileSync(join(multi, 'src', `part${i}.txt`), `part ${i}\n`.repeat(50));
  writeFileSync(
    join(multi, 'Dockerfile'),
    [
      'FROM busybox AS build',
      'WORKDIR /src',
      'COPY src/ ./',
      'RUN cat part*.txt | sort > /out.txt && wc -l /out.txt > /lines.txt',
      'FROM busybox',
      'COPY --from=build /out.txt /lines.txt /app/',
      'RUN ls /app > /app/index.txt',
      'CMD ["cat", "/app/lines.txt"]',
      '',
    ].join('\n'),
  );

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

  const runs30 = join(work, 'runs30');
  mkdirSync(runs30);
  writeFileSync(join(runs30, 'late.txt'), 'late\n');
  const runLines = Array.from({ length: 30 }, (_, i) => `RUN echo ${i} > /f${i}`);
  writeFileSync(join(runs30, 'Dockerfile'), ['FROM busybox', ...runLines.slice(0, 27), 'COPY late.txt /late.txt', ...runLines.slice(27), ''].join('\n'));

  const large = join(work, 'large');
  mkdirSync(large);
  makeLarge(large);

  return [
    { name: 'small', dir: small, file: 'message.txt', push: true },
    { name: 'multi-stage', dir: multi, file: 'src/part7.txt' },
    { name: 'metadata-heavy', dir: meta, file: 'conf.txt' },
    { name: 'runs30', dir: runs30, file: 'late.txt' },
    { name: 'large', dir: large, file: 'dir7/file7.txt', push: true },
  ];
}
