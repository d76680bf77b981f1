import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { diffTrees } from '../../helpers/tree.js';
import { createHarness, executedSteps, type Harness } from './harness.js';

let h: Harness;
let ctx: string;

test.before(async () => {
  h = await createHarness();
  const files: Record<string, string> = { Dockerfile: 'FROM busybox\nCOPY . /ctx\nRUN cat /ctx/d3/f7.txt > /seen\n' };
  for (let d = 0; d < 10; d++) for (let f = 0; f < 20; f++) files[`d${d}/f${f}.txt`] = `dir ${d} file ${f}\n`;
  ctx = await h.context(files);
});
test.after(async () => {
  await h?.close();
});

test('a one-file change re-copies only that file and gives the same tree as a full copy', async () => {
  await h.build(ctx, { tags: ['inc:1'] });
  await writeFile(join(ctx, 'd3/f7.txt'), 'changed content\n');
  await mkdir(join(ctx, 'd10'));
  await writeFile(join(ctx, 'd10/new.txt'), 'a new file\n');
  const r = await h.build(ctx, { tags: ['inc:2'] });
  assert.equal(executedSteps(r.events), ['COPY . /ctx', 'RUN cat /ctx/d3/f7.txt > /seen']);
  const full = await h.build(ctx, { tags: ['full:2'], noCache: true });
  assert.is(full.stepsExecuted, 2);
  const skip = (e: { path: string }) => e.path !== 'Dockerfile';
  const a = (await h.tree('inc:2')).filter(skip).map((e) => ({ ...e, hardlinkOf: undefined }));
  const b = (await h.tree('full:2')).filter(skip).map((e) => ({ ...e, hardlinkOf: undefined }));
  assert.equal(diffTrees(b, a), []);
  assert.ok(a.some((e) => e.path === 'ctx/d10/new.txt'));
  assert.ok(a.some((e) => e.path === 'seen' && e.size === 'changed content\n'.length));
});

test('the earlier result is not written through: reverting the file reuses it with the old content', async () => {
  await writeFile(join(ctx, 'd3/f7.txt'), 'dir 3 file 7\n');
  await writeFile(join(ctx, 'Dockerfile'), 'FROM busybox\nCOPY . /ctx\nRUN cat /ctx/d3/f7.txt > /seen\nRUN cat /ctx/d3/f7.txt > /again\n');
  const r = await h.build(ctx, { tags: ['inc:3'] });
  // d10/new.txt is still there, so the COPY is that of inc:2's sources minus the edit: it runs, incrementally.
  const tree = await h.tree('inc:3');
  assert.is(tree.find((e) => e.path === 'again')?.size, 'dir 3 file 7\n'.length);
  const old = await h.tree('inc:2');
  assert.is(old.find((e) => e.path === 'ctx/d3/f7.txt')?.size, 'changed content\n'.length, 'inc:2 still has its own content');
  assert.ok(r.stepsExecuted >= 2);
});

test.run();
