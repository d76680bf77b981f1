import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { rejects } from '../../helpers/assert.js';
import { createHarness, executedSteps, type Harness } from './harness.js';

let h: Harness;

test.before(async () => {
  h = await createHarness();
});
test.after(async () => {
  await h?.close();
});

const FAILING = ['FROM busybox', 'RUN echo first > /first.txt', 'RUN echo "line one"; echo "line two" >&2; exit 3', 'RUN echo never', ''].join('\n');

test('a failed RUN reports stage, step, Dockerfile:line, the exit code and its last output; nothing is tagged', async () => {
  const ctx = await h.context({ Dockerfile: FAILING });
  const err = (await rejects(() => h.build(ctx, { tags: ['broken:1'] }), 'BUILD_STEP_FAILED')) as import('../../../src/errors.js').KilnError;
  assert.equal(err.loc, { file: 'Dockerfile', line: 3 });
  assert.match(
    err.describe(),
    /^Dockerfile:3: process "\/bin\/sh -c echo "line one"; echo "line two" >&2; exit 3" did not complete successfully: exit code: 3$/,
  );
  assert.is(err.details?.exitCode, 3);
  assert.is(err.details?.step, 3);
  const out = (err.details?.output as string[]).join('\n');
  assert.match(out, /line one/);
  assert.match(out, /line two/);
  assert.is(await h.builder.root.images.find('broken:1'), undefined);
});

test('the steps that finished before a failure stay cached', async () => {
  const ctx = await h.context({ Dockerfile: FAILING });
  await rejects(() => h.build(ctx), 'BUILD_STEP_FAILED');
  await writeFile(join(ctx, 'Dockerfile'), FAILING.replace('exit 3', 'exit 0'));
  const r = await h.build(ctx, { tags: ['fixed:1'] });
  assert.equal(executedSteps(r.events), ['RUN echo "line one"; echo "line two" >&2; exit 0', 'RUN echo never']);
  assert.is(r.stepsCached, 1);
});

test('a failure in one stage cancels a long step in a parallel stage', async () => {
  const ctx = await h.context({
    Dockerfile: [
      'FROM busybox AS slow',
      'RUN sleep 30',
      '',
      'FROM busybox AS bad',
      'RUN sleep 0.3; exit 7',
      '',
      'FROM busybox',
      'COPY --from=slow /etc/passwd /a',
      'COPY --from=bad /etc/passwd /b',
      '',
    ].join('\n'),
  });
  const started = Date.now();
  const err = await rejects(() => h.build(ctx), 'BUILD_STEP_FAILED');
  assert.match(err.message, /exit code: 7/);
  assert.ok(Date.now() - started < 20_000, 'the sleeping stage was killed, not waited for');
});

test('cancelling the signal stops the build with CANCELLED', async () => {
  const ctx = await h.context({ Dockerfile: 'FROM busybox\nRUN sleep 30\n' });
  const ac = new AbortController();
  const p = h.build(ctx, {
    signal: ac.signal,
    onEvent: (e) => {
      if (e.type === 'step-start' && e.step.text.startsWith('RUN')) setTimeout(() => ac.abort(), 300);
    },
  });
  await rejects(() => p, 'CANCELLED');
});

test('a base image neither stored nor pullable fails at its FROM line', async () => {
  // A loopback port nothing listens on: the pull fails fast without leaving the machine.
  const ctx = await h.context({ Dockerfile: 'FROM busybox\nRUN true\n\nFROM 127.0.0.1:9/nosuch:1\n' });
  const err = await rejects(() => h.build(ctx), 'REGISTRY_UNAVAILABLE');
  assert.equal((err as import('../../../src/errors.js').KilnError).loc?.line, 4);
});

test.run();
