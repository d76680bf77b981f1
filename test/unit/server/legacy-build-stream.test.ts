/**
 * The legacy build text: `Step N/M` over every instruction (config-only ones included, printed between the
 * builder's filesystem steps), Running in / Removing intermediate container, Using cache, and ` ---> ID` after each
 * step with the image's ID last, as dockerd 20.10 prints (test/fixtures/dockerd-20.10/build-stream*.json).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createBuildStream, type JsonMessage } from '../../../src/server/build-stream.js';
import type { BuildEvent, StepRef } from '../../../src/builder/types.js';

const F = 'Dockerfile';
const INSTRUCTIONS = [
  ['FROM', 'FROM busybox'],
  ['ENV', 'ENV A=1'],
  ['RUN', 'RUN echo hi'],
  ['COPY', 'COPY f /f'],
  ['CMD', 'CMD ["sh"]'],
].map(([kind, text], i) => ({ kind: kind!, text: text!, loc: { file: F, line: i + 1 } }));

const step = (line: number, text: string): StepRef => ({ id: line, stage: '', index: 1, total: 4, text, loc: { file: F, line } });
const key = (c: string) => `sha256:${c.repeat(64)}`;
const result = { imageId: key('f'), manifestDigest: key('e'), tags: ['app:1'], stepsExecuted: 2, stepsCached: 0, stepsShared: 0 };

function run(cached: boolean): string[] {
  const out: JsonMessage[] = [];
  const s = createBuildStream((m) => out.push(m), { quiet: false });
  const events: BuildEvent[] = [
    { type: 'build-start', steps: 4, stages: [''], instructions: INSTRUCTIONS },
    { type: 'step-start', step: step(1, 'FROM busybox') },
    { type: 'step-done', step: step(1, 'FROM busybox'), durationMs: 1, result: key('1') },
    { type: 'step-start', step: step(3, 'RUN echo hi') },
    ...(cached
      ? [{ type: 'step-cached', step: step(3, 'RUN echo hi'), result: key('3') } as const]
      : [
          { type: 'step-output', step: step(3, 'RUN echo hi'), stream: 'stdout', data: 'hi\n' } as const,
          { type: 'step-done', step: step(3, 'RUN echo hi'), durationMs: 1, result: key('3') } as const,
        ]),
    { type: 'step-start', step: step(4, 'COPY f /f') },
    cached
      ? { type: 'step-cached', step: step(4, 'COPY f /f'), result: key('4') }
      : { type: 'step-done', step: step(4, 'COPY f /f'), durationMs: 1, result: key('4') },
  ];
  for (const e of events) s.event(e);
  s.done(result);
  return out
    .map((m) => m.stream ?? '')
    .join('')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.replace(/(Running in|intermediate container) [0-9a-f]{12}/, '$1 <c>'));
}

test('a first build: every instruction a step, config-only ones run in a container, the image ID last', () => {
  const lines = run(false);
  // ENV's ID is derived from FROM's and its text (no intermediate image): a 12-hex ID like the others.
  assert.match(lines[5]!, /^ ---> [0-9a-f]{12}$/);
  lines[5] = ' ---> <derived>';
  assert.equal(lines, [
    'Step 1/5 : FROM busybox',
    ' ---> 111111111111',
    'Step 2/5 : ENV A=1',
    ' ---> Running in <c>',
    'Removing intermediate container <c>',
    ' ---> <derived>',
    'Step 3/5 : RUN echo hi',
    ' ---> Running in <c>',
    'hi',
    'Removing intermediate container <c>',
    ' ---> 333333333333',
    'Step 4/5 : COPY f /f',
    ' ---> 444444444444',
    'Step 5/5 : CMD ["sh"]',
    ' ---> Running in <c>',
    'Removing intermediate container <c>',
    ' ---> ffffffffffff',
    'Successfully built ffffffffffff',
    'Successfully tagged app:1',
  ]);
});

test('a rebuild from cache: Using cache on every step after FROM, config-only ones too', () => {
  const lines = run(true);
  assert.equal(
    lines.filter((l) => l.startsWith(' ---> ') && !/^ ---> [0-9a-f]{12}$/.test(l)),
    [' ---> Using cache', ' ---> Using cache', ' ---> Using cache', ' ---> Using cache'],
  );
  assert.not.ok(lines.some((l) => l.includes('Running in')));
  assert.equal(lines.slice(-3), [' ---> ffffffffffff', 'Successfully built ffffffffffff', 'Successfully tagged app:1']);
});

test('the derived ID of a config-only step is stable across builds', () => {
  assert.is(run(false)[5], run(false)[5]);
});

test.run();
