import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRecorder } from '../../../src/builder/history-recorder.js';
import type { BuildEvent, StepRef } from '../../../src/builder/types.js';
import { KilnError } from '../../../src/errors.js';
import { readRecord, readStepLog } from '../../../src/history/store.js';

let root = '';
test.before.each(async () => {
  root = await mkdtemp(join(tmpdir(), 'kiln-recorder-'));
});
test.after.each(async () => {
  await rm(root, { recursive: true, force: true });
});

const step = (id: number, text: string, line: number): StepRef => ({ id, stage: 'app', index: id, total: 3, text, loc: { file: 'Dockerfile', line } });

test('the recorder turns events into a record: stages, statuses, cache sources, bytes, scrubbed logs and args', async () => {
  const seen: BuildEvent[] = [];
  const rec = await startRecorder(
    root,
    { contextDir: '/x', tags: ['app:1'], buildArgs: { V: '1', NPM_TOKEN: 'n' }, secrets: [{ id: 's', value: 'hunter2-secret' }], onEvent: (e) => seen.push(e) },
    ['linux/amd64'],
  );
  const opts = rec.wrap({ contextDir: '/x', onEvent: (e) => seen.push(e) });
  opts.onDockerfile!({ name: 'Dockerfile', text: 'FROM busybox\n' });
  const emit = opts.onEvent!;
  emit({
    type: 'build-start',
    steps: 3,
    stages: ['app'],
    graph: [{ label: 'app', name: 'app', index: 0, platform: 'linux/amd64', base: 'busybox', dependsOn: [] }],
  });
  emit({ type: 'step-start', step: step(1, 'FROM busybox', 1) });
  emit({ type: 'step-cached', step: step(1, 'FROM busybox', 1) });
  emit({ type: 'step-start', step: step(2, 'RUN x', 2) });
  emit({ type: 'step-cached', step: step(2, 'RUN x', 2), source: 'reg/cache' });
  emit({ type: 'step-start', step: step(3, 'RUN y', 3) });
  emit({ type: 'step-miss-reason', step: step(3, 'RUN y', 3), reason: 'no earlier build' });
  emit({ type: 'step-output', step: step(3, 'RUN y', 3), stream: 'stdout', data: 'the secret is hunter2-secret\n' });
  emit({ type: 'step-error', step: step(3, 'RUN y', 3), message: 'exit 2', exitCode: 2 });
  assert.is(seen.length, 9, 'the caller still gets every event');
  await rec.finish(undefined, new KilnError('BUILD_STEP_FAILED', 'RUN y: exit code 2'));
  const r = await readRecord(root, rec.id);
  assert.is(r.status, 'failed');
  assert.equal(r.buildArgs, { V: '1', NPM_TOKEN: '[REDACTED]' });
  assert.equal(r.secrets, ['s']);
  assert.match(r.dockerfile.digest, /^sha256:/);
  assert.equal(
    r.stages.map((s) => s.label),
    ['app'],
  );
  assert.equal(
    r.steps.map((s) => s.status),
    ['cached', 'cached', 'failed'],
  );
  assert.equal(r.steps[1]!.cache, { kind: 'remote', ref: 'reg/cache' });
  assert.is(r.steps[2]!.missReason, 'no earlier build');
  assert.equal(r.error, { message: 'RUN y: exit code 2', code: 'BUILD_STEP_FAILED', step: 3, loc: { file: 'Dockerfile', line: 3 }, exitCode: 2 });
  assert.is((await readStepLog(root, rec.id, 3)).toString(), 'the secret is [REDACTED]\n');
});

test('a cancelled build reads cancelled, its running steps too', async () => {
  const rec = await startRecorder(root, { contextDir: '/x' }, ['linux/amd64']);
  const emit = rec.wrap({ contextDir: '/x' }).onEvent!;
  emit({ type: 'step-start', step: step(1, 'RUN sleep 9', 2) });
  await rec.finish(undefined, new KilnError('CANCELLED', 'build cancelled'));
  const r = await readRecord(root, rec.id);
  assert.is(r.status, 'cancelled');
  assert.is(r.steps[0]!.status, 'cancelled');
});

test.run();
