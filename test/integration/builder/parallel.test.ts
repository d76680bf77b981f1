import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { BuildEvent } from '../../../src/builder/types.js';
import { createHarness, type Harness } from './harness.js';

let h: Harness;

test.before(async () => {
  h = await createHarness();
});
test.after(async () => {
  await h?.close();
});

const started = (events: BuildEvent[], stage: string) =>
  events.findIndex((e) => e.type === 'step-start' && e.step.stage === stage && e.step.text.startsWith('RUN'));
const done = (events: BuildEvent[], stage: string) =>
  events.findIndex((e) => e.type === 'step-done' && e.step.stage === stage && e.step.text.startsWith('RUN'));

test('independent stages run in parallel', async () => {
  const ctx = await h.context({
    Dockerfile: [
      'FROM busybox AS a',
      'RUN sleep 0.5 && echo a > /a',
      'FROM busybox AS b',
      'RUN sleep 0.5 && echo b > /b',
      'FROM busybox',
      'COPY --from=a /a /a',
      'COPY --from=b /b /b',
      '',
    ].join('\n'),
  });
  const r = await h.build(ctx, { tags: ['par:1'] });
  const ev = r.events;
  assert.ok(started(ev, 'a') >= 0 && started(ev, 'b') >= 0);
  assert.ok(started(ev, 'b') < done(ev, 'a') && started(ev, 'a') < done(ev, 'b'), 'both RUN steps started before either finished');
  const tree = await h.tree('par:1');
  assert.ok(tree.some((e) => e.path === 'a') && tree.some((e) => e.path === 'b'));
});

test('identical work requested twice at once runs once', async () => {
  const ctx = await h.context({
    Dockerfile: [
      'FROM busybox AS one',
      'RUN sleep 0.3 && date +%s%N > /stamp',
      'FROM busybox AS two',
      'RUN sleep 0.3 && date +%s%N > /stamp',
      'FROM busybox',
      'COPY --from=one /stamp /one',
      'COPY --from=two /stamp /two',
      '',
    ].join('\n'),
  });
  const r = await h.build(ctx, { tags: ['dedup:1'] });
  const runs = r.events.filter((e) => e.type === 'step-done' && e.step.text.startsWith('RUN'));
  assert.is(runs.length, 1, 'one execution for the two stages');
  assert.is(r.stepsExecuted, 3, 'the RUN once and the two COPYs');
  assert.is(r.stepsShared, 1, "the second stage joined the first one's RUN");
  assert.is(r.stepsCached, 0, 'a joined step is not a cache hit');
  const img = await h.image('dedup:1');
  assert.is(img.manifest.layers.length, 3, 'the second COPY of the same content still adds its own layer');
});

test('two concurrent builds of the same Dockerfile share one execution', async () => {
  const ctx = await h.context({ Dockerfile: 'FROM busybox\nRUN sleep 0.3 && date +%s%N > /concurrent\n' });
  const [a, b] = await Promise.all([h.build(ctx), h.build(ctx)]);
  assert.is(a.stepsExecuted + b.stepsExecuted, 1);
  assert.is(a.stepsShared + b.stepsShared, 1, 'the other build joined the running step');
  assert.is(a.stepsCached + b.stepsCached, 0, 'and did not count it as a cache hit');
  assert.is(a.imageId, b.imageId);
});

test('cancelling one of two builds sharing a step does not fail the other', async () => {
  const ctx = await h.context({ Dockerfile: 'FROM busybox\nRUN sleep 1 && echo shared > /shared-cancel\n' });
  const ac = new AbortController();
  const a = h.build(ctx, {
    signal: ac.signal,
    onEvent: (e) => {
      if (e.type === 'step-start' && e.step.text.startsWith('RUN')) setTimeout(() => ac.abort(), 300);
    },
  });
  const b = h.build(ctx, { tags: ['survivor:1'] });
  const [ra, rb] = await Promise.allSettled([a, b]);
  assert.is(ra.status, 'rejected');
  assert.is(rb.status, 'fulfilled', rb.status === 'rejected' ? String(rb.reason) : '');
  assert.ok((await h.tree('survivor:1')).some((e) => e.path === 'shared-cancel'));
});

test("a build that joined another's running step stops waiting as soon as it is cancelled", async () => {
  const ctx = await h.context({ Dockerfile: 'FROM busybox\nRUN sleep 3 && echo owner > /joined-cancel\n' });
  let ownerStarted!: () => void;
  const started = new Promise<void>((r) => (ownerStarted = r));
  const owner = h.build(ctx, {
    tags: ['owner:1'],
    onEvent: (e) => {
      if (e.type === 'step-start' && e.step.text.startsWith('RUN')) ownerStarted();
    },
  });
  await started;
  const ac = new AbortController();
  const t0 = Date.now();
  const joiner = h.build(ctx, { signal: ac.signal });
  setTimeout(() => ac.abort(), 200);
  const r = await joiner.then(
    () => 'fulfilled',
    (e: { code?: string }) => e.code,
  );
  assert.is(r, 'CANCELLED');
  assert.ok(Date.now() - t0 < 2000, `the joiner returned after ${Date.now() - t0} ms, not when the owner's 3 s step ended`);
  const o = await owner;
  assert.is(o.stepsExecuted, 1);
  assert.ok((await h.tree('owner:1')).some((e) => e.path === 'joined-cancel'));
});

test('unneeded stages never run', async () => {
  const ctx = await h.context({ Dockerfile: 'FROM busybox AS broken\nRUN exit 1\n\nFROM busybox\nRUN echo ok > /ok\n' });
  const r = await h.build(ctx);
  assert.is(r.stepsExecuted, 1);
  assert.not.ok(r.events.some((e) => e.type === 'step-start' && e.step.stage === 'broken'));
});

test.run();
