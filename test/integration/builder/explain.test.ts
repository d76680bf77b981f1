import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHarness, missReason, type Harness } from './harness.js';

let h: Harness;

test.before(async () => {
  h = await createHarness();
});
test.after(async () => {
  await h?.close();
});

test('--explain says the base image changed when a tag moved', async () => {
  const one = await h.context({ Dockerfile: 'FROM busybox\nRUN echo one > /v\n' });
  const two = await h.context({ Dockerfile: 'FROM busybox\nRUN echo two > /v\n' });
  await h.build(one, { tags: ['base:one'] });
  await h.build(two, { tags: ['base:two'] });
  const root = h.builder.root;
  await root.images.tag('movingbase:latest', (await h.image('base:one')).descriptor);
  const app = await h.context({ Dockerfile: 'FROM movingbase\nRUN cat /v > /copy\n' });
  await h.build(app);
  await root.images.tag('movingbase:latest', (await h.image('base:two')).descriptor);
  const r = await h.build(app, { explain: true });
  assert.match(missReason(r.events, 'RUN cat') ?? '', /^base image changed: FROM movingbase@sha256:[0-9a-f]{64} → FROM movingbase@sha256:[0-9a-f]{64}$/);
});

test('--explain names a changed instruction text and an ENV value', async () => {
  const ctx = await h.context({ Dockerfile: 'FROM busybox\nENV LEVEL=1\nRUN echo "$LEVEL" > /level\nRUN echo a > /a\n' });
  await h.build(ctx);
  await writeFile(join(ctx, 'Dockerfile'), 'FROM busybox\nENV LEVEL=2\nRUN echo "$LEVEL" > /level\nRUN echo b > /a\n');
  const r = await h.build(ctx, { explain: true });
  assert.is(missReason(r.events, 'RUN echo "$LEVEL"'), 'variable LEVEL changed: "1" → "2"');
  const why = missReason(r.events, 'RUN echo b') ?? '';
  // Exact and complete: the text changed, LEVEL is in this RUN's environment too, and its parent step re-ran.
  assert.is(
    why,
    'instruction changed: "RUN echo a > /a" → "RUN echo b > /a"; variable LEVEL changed: "1" → "2"; previous step changed (step 2: RUN echo "$LEVEL" > /level)',
  );
});

test.run();
