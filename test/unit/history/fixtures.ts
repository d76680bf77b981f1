/** A build record to test the store, retention and OTLP against. */
import type { BuildRecord } from '../../../src/history/types.js';
import { newRecordId } from '../../../src/history/store.js';
import { ownerToken } from '../../../src/cache/lock.js';

export function sampleRecord(over: Partial<BuildRecord> = {}): BuildRecord {
  const start = over.start ?? Date.now() - 5000;
  return {
    version: 1,
    id: newRecordId(start),
    status: 'completed',
    origin: { kind: 'local', user: 'tester', uid: 1000, host: 'box' },
    owner: ownerToken(),
    dockerfile: { name: 'Dockerfile', digest: 'sha256:' + '0'.repeat(64) },
    platforms: ['linux/amd64'],
    buildArgs: {},
    secrets: [],
    tags: ['app:1'],
    start,
    end: start + 3000,
    stages: [
      { label: 'base', name: 'base', index: 0, platform: 'linux/amd64', base: 'busybox', dependsOn: [] },
      { label: '', name: 'stage-1', index: 1, platform: 'linux/amd64', base: 'stage:base', dependsOn: ['base'] },
    ],
    steps: [
      { id: 1, stage: 'base', index: 1, text: 'FROM busybox', kind: 'FROM', start, end: start + 100, status: 'cached', cache: { kind: 'local' }, logBytes: 0 },
      {
        id: 2,
        stage: 'base',
        index: 2,
        text: 'RUN echo hi',
        kind: 'RUN',
        loc: { file: 'Dockerfile', line: 2 },
        start: start + 100,
        end: start + 1500,
        status: 'executed',
        missReason: 'no earlier build of this step',
        bytesWritten: 120,
        logBytes: 3,
      },
      { id: 3, stage: '', index: 1, text: 'FROM base', kind: 'FROM', start: start + 1500, end: start + 1600, status: 'executed', logBytes: 0 },
      {
        id: 4,
        stage: '',
        index: 2,
        text: 'COPY --from=base /a /a',
        kind: 'COPY',
        loc: { file: 'Dockerfile', line: 4 },
        start: start + 1600,
        end: start + 2900,
        status: 'executed',
        logBytes: 0,
      },
    ],
    warnings: [],
    result: {
      imageId: 'sha256:' + '1'.repeat(64),
      manifestDigest: 'sha256:' + '2'.repeat(64),
      tags: ['app:1'],
      outputs: ['image'],
      pushes: [],
      stepsExecuted: 3,
      stepsCached: 1,
      stepsShared: 0,
    },
    ...over,
  };
}
