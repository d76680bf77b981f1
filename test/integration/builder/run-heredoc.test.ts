import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHarness, type Harness } from './harness.js';

let h: Harness;

test.before(async () => {
  h = await createHarness();
});
test.after(async () => {
  await h?.close();
});

const output = (events: Array<{ type: string }>) =>
  events
    .filter((e): e is { type: 'step-output'; data: string } => e.type === 'step-output')
    .map((e) => e.data)
    .join('');

test('a #! heredoc runs as a program from /dev/pipes/ with its interpreter and options', async () => {
  // `-e` on the #! line only works when the kernel runs the file: `sh -c body` would ignore it and go on.
  const ctx = await h.context({
    Dockerfile: 'FROM busybox\nRUN <<EOF\n#!/bin/sh -e\necho "zero=$0" > /shebang\nfalse\necho after >> /shebang\nEOF\n',
  });
  const err = await h.build(ctx).then(
    () => undefined,
    (e: unknown) => e as { code?: string },
  );
  assert.is(err?.code, 'BUILD_STEP_FAILED', '#!/bin/sh -e stops at false');
  const ok = await h.context({ Dockerfile: 'FROM busybox\nRUN <<EOF\n#!/bin/sh -e\necho "zero=$0" | tee /shebang\nls -l /dev/pipes/EOF\nEOF\n' });
  const r = await h.build(ok, { tags: ['shebang:1'] });
  assert.match(output(r.events), /zero=\/dev\/pipes\/EOF/);
  assert.match(output(r.events), /-rwxr-xr-x/);
  const tree = await h.tree('shebang:1');
  assert.ok(tree.some((e) => e.path === 'shebang'));
  assert.not.ok(
    tree.some((e) => e.path.startsWith('dev')),
    'the script mount leaves nothing in the layer',
  );
});

test('changing a #! heredoc body re-runs the step', async () => {
  const df = (word: string) => `FROM busybox\nRUN <<EOF\n#!/bin/sh\necho ${word} > /word\nEOF\n`;
  const ctx = await h.context({ Dockerfile: df('one') });
  assert.is((await h.build(ctx)).stepsExecuted, 1);
  assert.is((await h.build(ctx)).stepsExecuted, 0);
  const changed = await h.context({ Dockerfile: df('two') });
  assert.is((await h.build(changed, { tags: ['shebang:2'] })).stepsExecuted, 1);
  const img = await h.tree('shebang:2');
  assert.ok(img.some((e) => e.path === 'word'));
});

test.run();
