import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { appendFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHarness, executedSteps, missReason, type Harness } from './harness.js';

let h: Harness;
let ctx: string;

test.before(async () => {
  h = await createHarness();
  ctx = await h.fixture('cache-app');
});
test.after(async () => {
  await h?.close();
});

test('a cold build executes every filesystem step', async () => {
  const r = await h.build(ctx, { tags: ['app:1'] });
  assert.is(r.stepsExecuted, 5);
  assert.is(r.stepsCached, 0);
  const cfg = (await h.image('app:1')).config;
  assert.equal(cfg.config?.Cmd, ['cat', '/app/mode.txt']);
  assert.is(cfg.config?.WorkingDir, '/app');
});

test('a rebuild with nothing changed runs zero steps and gives the same image', async () => {
  const first = await h.image('app:1');
  const r = await h.build(ctx, { tags: ['app:1'] });
  assert.is(r.stepsExecuted, 0);
  assert.is(r.stepsCached, 5);
  assert.is(r.imageId, first.id);
});

test('touching a file no step uses (and one that is only touched) runs zero steps', async () => {
  await appendFile(join(ctx, 'unused.txt'), 'more\n');
  const now = new Date(Date.now() + 5000);
  await utimes(join(ctx, 'config.txt'), now, now);
  const r = await h.build(ctx, { tags: ['app:1'] });
  assert.is(r.stepsExecuted, 0);
});

test('changing one file re-runs exactly the COPY that reads it and the steps after it, and explain names the file', async () => {
  await writeFile(join(ctx, 'src/util.txt'), 'util v2\n');
  const r = await h.build(ctx, { tags: ['app:2'], explain: true });
  assert.equal(executedSteps(r.events), ['COPY src/ ./src/', 'RUN echo "$MODE" > mode.txt && ls src > src.list']);
  assert.is(r.stepsCached, 3);
  assert.is(missReason(r.events, 'COPY src/'), 'file changed: src/util.txt');
  assert.match(missReason(r.events, 'RUN echo') ?? '', /previous step changed/);
});

test('a changed build arg re-runs the RUNs that see it (BuildKit: every RUN after the ARG) and explain names it', async () => {
  const r = await h.build(ctx, { tags: ['app:3'], buildArgs: { MODE: 'debug' } });
  const ran = executedSteps(r.events);
  assert.ok(ran.includes('RUN cat config.txt > /app/config.copy') && ran.includes('RUN echo "$MODE" > mode.txt && ls src > src.list'), ran.join('\n'));
  assert.not.ok(ran.some((s) => s.startsWith('WORKDIR') || s.startsWith('COPY config.txt')));
  assert.is(missReason(r.events, 'RUN cat'), 'variable MODE changed: "release" → "debug"');
});

test('the cache survives reopening the root (a new builder process)', async () => {
  const { openBuilder } = await import('../../../src/builder/open.js');
  const b = await openBuilder(h.rootDir);
  try {
    const events: string[] = [];
    const r = await b.build({
      contextDir: ctx,
      buildArgs: { MODE: 'debug' },
      onEvent: (e) => {
        if (e.type === 'step-miss-reason') events.push(`${e.step.text}: ${e.reason}`);
      },
    });
    assert.is(r.stepsExecuted, 0, events.join('\n'));
  } finally {
    await b.close();
  }
});

test('after a miss, a later step whose input is unchanged hits again (SOURCE_DATE_EPOCH makes the re-run layer identical)', async () => {
  const epoch = { sourceDateEpoch: 1_700_000_000 };
  await h.build(ctx, { ...epoch, buildArgs: { MODE: 'a' } });
  const r = await h.build(ctx, { ...epoch, buildArgs: { MODE: 'b' } });
  // RUN cat re-runs (MODE is in its environment) but writes the same bytes: COPY src/ then hits again.
  assert.equal(executedSteps(r.events), ['RUN cat config.txt > /app/config.copy', 'RUN echo "$MODE" > mode.txt && ls src > src.list']);
  assert.is(r.stepsCached, 3);
});

test('--no-cache executes every step, and its results replace the cached ones', async () => {
  const r = await h.build(ctx, { noCache: true });
  assert.is(r.stepsExecuted, 5);
  const again = await h.build(ctx, {});
  assert.is(again.stepsExecuted, 0);
});

test.run();
