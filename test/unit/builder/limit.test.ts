import { test } from 'uvu';
import * as assert from 'uvu/assert';
import PQueue from 'p-queue';
import { queuedRun } from '../../../src/builder/limit.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('queuedRun() lets a started task finish its clean-up before it rejects on abort', async () => {
  const queue = new PQueue({ concurrency: 1 });
  const ac = new AbortController();
  let cleanedUp = false;
  const task = queuedRun(
    queue,
    async () => {
      await new Promise((r) => ac.signal.addEventListener('abort', r, { once: true }));
      await tick(30); // a container's teardown
      cleanedUp = true;
      throw new Error('killed');
    },
    ac.signal,
  );
  await tick(5);
  ac.abort();
  const err = await task.then(
    () => undefined,
    (e: Error) => e,
  );
  assert.is(err?.message, 'killed');
  assert.ok(cleanedUp, 'rejected only after the task settled');
});

test('queuedRun() drops a task still waiting for a slot at once, and never starts it', async () => {
  const queue = new PQueue({ concurrency: 1 });
  const ac = new AbortController();
  let release!: () => void;
  const busy = queuedRun(queue, () => new Promise<void>((r) => (release = r)), new AbortController().signal);
  let ran = false;
  const waiting = queuedRun(
    queue,
    async () => {
      ran = true;
    },
    ac.signal,
  );
  ac.abort(new Error('cancelled'));
  const err = await waiting.then(
    () => undefined,
    (e: Error) => e,
  );
  assert.is(err?.message, 'cancelled');
  release();
  await busy;
  await queue.onIdle();
  assert.not.ok(ran);
});

test('queuedRun() rejects at once when the signal is already aborted', async () => {
  const ac = new AbortController();
  ac.abort(new Error('gone'));
  const err = await queuedRun(new PQueue(), async () => 1, ac.signal).then(
    () => undefined,
    (e: Error) => e,
  );
  assert.is(err?.message, 'gone');
});

test.run();
