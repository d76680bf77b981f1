/**
 * RUN steps run under Docker's default seccomp profile; `RUN --security=insecure` (granted with `allow:
 * ['security.insecure']`, BuildKit's entitlement) runs with every capability and without a filter.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile } from 'node:fs/promises';
import { rejects } from '../../helpers/assert.js';
import { createHarness, type Harness } from './harness.js';

let h: Harness;
test.before(async () => {
  h = await createHarness();
});
test.after(async () => {
  await h?.close();
});

test('a RUN step is filtered: Seccomp 2 in /proc/self/status, and unshare(CLONE_NEWUSER) fails with EPERM', async () => {
  const ok = await h.context({ Dockerfile: 'FROM busybox\nRUN grep -E "^Seccomp:\\s+2$" /proc/self/status > /seccomp\n' });
  await h.build(ok, { tags: ['sc:1'] });
  const tree = await h.tree('sc:1');
  assert.ok(tree.some((e) => e.path === 'seccomp'));
  const blocked = await h.context({ Dockerfile: 'FROM busybox\nRUN unshare -U true\n' });
  const err = await rejects(() => h.build(blocked), 'BUILD_STEP_FAILED');
  assert.match(JSON.stringify((err as { details?: unknown }).details), /Operation not permitted/);
});

test('RUN --security=insecure needs the security.insecure entitlement, then runs with every capability and no filter', async () => {
  // Every capability this host grants (root here lacks CAP_SYS_RESOURCE): the effective set equals our bounding set.
  const bounding = /^CapBnd:\s*(\w+)$/m.exec(await readFile('/proc/self/status', 'utf8'))![1];
  const dockerfile = `FROM busybox\nRUN --security=insecure grep -E "^Seccomp:\\s+0$" /proc/self/status && grep -E "^CapEff:\\s+${bounding}$" /proc/self/status && unshare -U true && mkdir /m && mount -t tmpfs none /m\n`;
  const ctx = await h.context({ Dockerfile: dockerfile });
  await rejects(() => h.build(ctx), 'ENTITLEMENT_DENIED', /Dockerfile:2.*security\.insecure/s);
  const r = await h.build(ctx, { tags: ['sc:2'], allow: ['security.insecure'] });
  assert.ok(r.events.some((e) => e.type === 'step-done'));
  const sandboxed = await h.context({ Dockerfile: 'FROM busybox\nRUN grep -E "^Seccomp:\\s+0$" /proc/self/status && unshare -U true\n' });
  await rejects(() => h.build(sandboxed, { allow: ['security.insecure'] }), 'BUILD_STEP_FAILED');
});

test.run();
