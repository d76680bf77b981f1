/**
 * Cancelling a build in the middle of a RUN: `build()` rejects only once the container is gone and its rootfs
 * unmounted, so a caller (the server, the CLI's Ctrl-C) that cleans up after the rejection finds no mount left.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mountsUnder } from '../../../src/sandbox/mount.js';
import { createHarness, type Harness } from './harness.js';

let h: Harness;

test.before(async () => {
  h = await createHarness();
});
test.after(async () => {
  await h?.close();
});

test("a build aborted during RUN rejects only after the container's mounts are gone", async () => {
  const ctx = await h.context({ Dockerfile: 'FROM busybox\nRUN --mount=type=tmpfs,target=/scratch echo running && sleep 30\n' });
  const ac = new AbortController();
  let sawOutput = false;
  const started = Date.now();
  const err = await h
    .build(ctx, {
      signal: ac.signal,
      onEvent: (e) => {
        // Abort once the process is running (its first output), so the container and its mounts exist.
        if (e.type === 'step-output' && !sawOutput) {
          sawOutput = true;
          ac.abort();
        }
      },
    })
    .then(
      () => undefined,
      async (e: unknown) => ({ e, mounts: await mountsUnder(h.rootDir) }),
    );
  assert.ok(sawOutput, 'the RUN started');
  assert.ok(err, 'the build was rejected');
  assert.is((err!.e as { code?: string }).code, 'CANCELLED');
  assert.equal(err!.mounts, [], 'no mount under the root when build() rejects');
  assert.ok(Date.now() - started < 20_000, 'and it did not wait for sleep 30');
});

test.run();
