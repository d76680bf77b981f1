/** Several kiln processes on one root at once: tagging writers and a pruner lose nothing and corrupt nothing. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openRoot } from '../../../src/cache/root.js';
import { verifyStore } from '../../../src/cache/verify.js';

const CHILD = fileURLToPath(new URL('./store-child.ts', import.meta.url));
let dir = '';

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-conc-'));
});
test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<number> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } });
    c.once('close', (code) => resolve(code ?? 1));
  });
}

test('four writer processes and a pruner on one root keep every tag and blob', async () => {
  const writers = [1, 2, 3, 4].map((i) => run(['tags', dir, String(i)], { TAG_COUNT: '15' }));
  const pruner = run(['prune', dir, '8']);
  const codes = await Promise.all([...writers, pruner]);
  assert.equal(codes, [0, 0, 0, 0, 0]);
  const root = await openRoot(dir);
  for (const i of [1, 2, 3, 4]) {
    const rec = await root.images.resolve(`child-${i}:0`);
    assert.is(rec.refs.length, 16, `writer ${i} kept all its tags`);
  }
  const report = await verifyStore(root);
  assert.equal(report.problems, []);
  assert.is(report.entries, 64);
  await root.close();
});

test.run();
