/** RUN steps run under Docker's default seccomp profile; `RUN --security=insecure` runs without one (BuildKit). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rejects } from '../../helpers/assert.js';
import { createHarness, type Harness } from './harness.js';

let h: Harness;
test.before(async () => { h = await createHarness(); });
test.after(async () => { await h?.close(); });

test('a RUN step is filtered: Seccomp 2 in /proc/self/status, and unshare(CLONE_NEWUSER) fails with EPERM', async () => {
  const ok = await h.context({ Dockerfile: 'FROM busybox\nRUN grep -E "^Seccomp:\\s+2$" /proc/self/status > /seccomp\n' });
  await h.build(ok, { tags: ['sc:1'] });
  const tree = await h.tree('sc:1');
  assert.ok(tree.some((e) => e.path === 'seccomp'));
  const blocked = await h.context({ Dockerfile: 'FROM busybox\nRUN unshare -U true\n' });
  const err = await rejects(() => h.build(blocked), 'BUILD_STEP_FAILED');
  assert.match(JSON.stringify((err as { details?: unknown }).details), /Operation not permitted/);
});

test('RUN --security=insecure runs unconfined, and the mode is part of the cache key', async () => {
  const ctx = await h.context({ Dockerfile: 'FROM busybox\nRUN --security=insecure grep -E "^Seccomp:\\s+0$" /proc/self/status && unshare -U true\n' });
  const r = await h.build(ctx, { tags: ['sc:2'] });
  assert.ok(r.events.some((e) => e.type === 'step-done'));
  const sandboxed = await h.context({ Dockerfile: 'FROM busybox\nRUN grep -E "^Seccomp:\\s+0$" /proc/self/status && unshare -U true\n' });
  await rejects(() => h.build(sandboxed), 'BUILD_STEP_FAILED');
});

test.run();
