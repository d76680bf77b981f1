import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHarness } from './harness.js';

test('the same build on two roots with SOURCE_DATE_EPOCH gives the same image digest', async () => {
  const a = await createHarness();
  const b = await createHarness();
  try {
    const epoch = 1_700_000_000;
    const ra = await a.build(await a.fixture('everything'), { tags: ['r:1'], sourceDateEpoch: epoch });
    // A different copy of the context (new inodes and mtimes) on another root.
    const rb = await b.build(await b.fixture('everything'), { tags: ['r:1'], sourceDateEpoch: epoch });
    assert.is(ra.imageId, rb.imageId);
    assert.is(ra.manifestDigest, rb.manifestDigest);
    const cfg = (await a.image('r:1')).config;
    assert.is(cfg.created, '2023-11-14T22:13:20Z');
    assert.ok(cfg.history!.filter((h) => h.comment).every((h) => h.created === '2023-11-14T22:13:20Z'));
  } finally {
    await a.close();
    await b.close();
  }
});

test.run();
