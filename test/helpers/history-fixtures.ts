/**
 * Build records written through the history store, shaped like real ones (two stages running side by side, a
 * final stage copying from both, cached and failed variants): for the page's bench (500 of them) and for tests of
 * the page that must not depend on build timing.
 */
import { newRecordId, writeRecord, writeRecordDockerfile } from '../../src/history/store.js';
import { openStepLog } from '../../src/history/log-writer.js';
import type { BuildRecord, StepRecord } from '../../src/history/types.js';
import { ownerToken } from '../../src/cache/lock.js';

export const FIXTURE_DOCKERFILE = `FROM busybox AS a
RUN sleep 1 && echo built a > /a

FROM busybox AS b
RUN sleep 1 && echo built b > /b

FROM busybox
COPY --from=a /a /a
COPY --from=b /b /b
RUN cat /a /b && exit 3
`;

export interface FixtureOptions {
  start?: number;
  kind?: 'executed' | 'cached' | 'failed' | 'running';
  /** Bytes of log output written for each RUN step (default 200). */
  logBytes?: number;
  tag?: string;
  /** The image the build produced (a manifest in the root's store), for the layer view. */
  manifestDigest?: string;
}

/** Writes one record (record.json, Dockerfile, step logs); returns it. */
export async function writeFixtureRecord(root: string, o: FixtureOptions = {}): Promise<BuildRecord> {
  const start = o.start ?? Date.now() - 10_000;
  const kind = o.kind ?? 'executed';
  const cached = kind === 'cached';
  const id = newRecordId(start);
  const st = (
    id: number,
    stage: string,
    index: number,
    kindName: string,
    text: string,
    line: number,
    t0: number,
    ms: number,
    extra: Partial<StepRecord> = {},
  ): StepRecord => ({
    id,
    stage,
    index,
    text,
    kind: kindName,
    loc: { file: 'Dockerfile', line },
    start: start + t0,
    end: start + t0 + ms,
    status: cached && kindName !== 'FROM' ? 'cached' : 'executed',
    logBytes: 0,
    ...(cached && kindName !== 'FROM'
      ? { cache: { kind: 'local' as const } }
      : { missReason: kindName === 'FROM' ? undefined : 'no cache entry for this step' }),
    ...extra,
  });
  const runMs = cached ? 5 : 1000;
  const steps: StepRecord[] = [
    st(1, 'a', 1, 'FROM', 'FROM busybox AS a', 1, 0, 20),
    st(2, 'a', 2, 'RUN', 'RUN sleep 1 && echo built a > /a', 2, 25, runMs),
    st(3, 'b', 1, 'FROM', 'FROM busybox AS b', 4, 0, 20),
    st(4, 'b', 2, 'RUN', 'RUN sleep 1 && echo built b > /b', 5, 30, runMs),
    st(5, '', 1, 'FROM', 'FROM busybox', 7, 0, 20),
    st(6, '', 2, 'COPY', 'COPY --from=a /a /a', 8, 40 + runMs, 15),
    st(7, '', 3, 'COPY', 'COPY --from=b /b /b', 9, 60 + runMs, 15),
    st(8, '', 4, 'RUN', 'RUN cat /a /b && exit 3', 10, 80 + runMs, cached ? 5 : 300),
  ];
  const end = start + 80 + runMs + (cached ? 5 : 300);
  if (kind === 'failed')
    Object.assign(steps[7], { status: 'failed', exitCode: 3, error: 'process "/bin/sh -c cat /a /b && exit 3" did not complete successfully: exit code: 3' });
  if (kind === 'running') {
    Object.assign(steps[7], { status: 'running', end: undefined });
  }
  const rec: BuildRecord = {
    version: 1,
    id,
    status: kind === 'failed' ? 'failed' : kind === 'running' ? 'running' : 'completed',
    origin: { kind: 'local', user: 'builder', uid: 1000, host: 'bench' },
    owner: kind === 'running' ? ownerToken() : 'gone',
    dockerfile: { name: 'Dockerfile', digest: `sha256:${'d'.repeat(64)}` },
    platforms: ['linux/amd64'],
    buildArgs: {},
    secrets: [],
    tags: [o.tag ?? `app:${id.slice(-6)}`],
    start,
    ...(kind === 'running' ? {} : { end }),
    stages: [
      { label: 'a', name: 'a', index: 0, platform: 'linux/amd64', base: 'busybox', dependsOn: [] },
      { label: 'b', name: 'b', index: 1, platform: 'linux/amd64', base: 'busybox', dependsOn: [] },
      { label: '', name: 'stage-2', index: 2, platform: 'linux/amd64', base: 'busybox', dependsOn: ['a', 'b'] },
    ],
    steps,
    warnings: [],
    ...(o.manifestDigest && kind !== 'failed'
      ? {
          result: {
            imageId: o.manifestDigest,
            manifestDigest: o.manifestDigest,
            tags: [o.tag ?? 'app'],
            outputs: ['image'],
            pushes: [],
            stepsExecuted: steps.filter((x) => x.status === 'executed').length,
            stepsCached: steps.filter((x) => x.status === 'cached').length,
            stepsShared: 0,
          },
        }
      : {}),
    ...(kind === 'failed'
      ? { error: { message: steps[7].error!, code: 'BUILD_STEP_FAILED', step: 8, loc: { file: 'Dockerfile', line: 10 }, exitCode: 3 } }
      : {}),
  };
  await writeRecord(root, rec);
  await writeRecordDockerfile(root, id, FIXTURE_DOCKERFILE);
  for (const s of steps.filter((x) => x.kind === 'RUN' && x.status !== 'cached')) {
    const log = await openStepLog(root, id, s.id);
    const line = `output of step ${s.id}: ${'x'.repeat(60)}\n`;
    let n = 0;
    while (n < (o.logBytes ?? 200)) {
      log.write(line);
      n += line.length;
    }
    await log.close();
    s.logBytes = log.bytes;
  }
  await writeRecord(root, rec);
  return rec;
}
