import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Writable } from 'node:stream';
import { createPlainRenderer } from '../../../src/cli/progress/plain.js';
import { createJsonRenderer } from '../../../src/cli/progress/json.js';
import { createFlightMap } from '../../../src/builder/flight.js';
import { pullStatusHandler } from '../../../src/builder/pull-progress.js';
import type { PullLayerProgress } from '../../../src/builder/types.js';
import type { TransferEvent } from '../../../src/registry/types.js';

function sink(): Writable & { text: string } {
  const w = new Writable({
    write(c, _e, cb) {
      (w as unknown as { text: string }).text += String(c);
      cb();
    },
  }) as Writable & { text: string };
  w.text = '';
  return w;
}

const step = { id: 3, stage: 'build', index: 2, total: 4, text: 'RUN make' };

test('plain progress prints buildx-style #N lines, output, CACHED and miss reasons', () => {
  const out = sink();
  const r = createPlainRenderer(out);
  r.onEvent({ type: 'step-start', step });
  r.onEvent({ type: 'step-miss-reason', step, reason: 'file changed: a.txt' });
  r.onEvent({ type: 'step-output', step, stream: 'stdout', data: 'hello\nwor' });
  r.onEvent({ type: 'step-output', step, stream: 'stdout', data: 'ld\n' });
  r.onEvent({ type: 'step-done', step, durationMs: 1234 });
  r.onEvent({ type: 'step-start', step: { ...step, id: 4, stage: '', index: 3, text: 'COPY . /' } });
  r.onEvent({ type: 'step-cached', step: { ...step, id: 4, stage: '', index: 3, text: 'COPY . /' } });
  r.close();
  const lines = out.text
    .split('\n')
    .filter(Boolean)
    .map((l) => l.replace(/ \d+\.\ds /, ' T '));
  assert.equal(lines, [
    '#3 [build 2/4] RUN make',
    '#3 cache miss: file changed: a.txt',
    '#3 T hello',
    '#3 T world',
    '#3 DONE 1.2s',
    '#4 [3/4] COPY . /',
    '#4 CACHED',
  ]);
});

test('json progress prints one parseable event per line', () => {
  const out = sink();
  const r = createJsonRenderer(out);
  r.onEvent({ type: 'step-start', step });
  r.onEvent({ type: 'step-cached', step });
  const lines = out.text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(
    lines.map((l) => l.type),
    ['step-start', 'step-cached'],
  );
  assert.is(lines[0].step.text, 'RUN make');
});

test('the flight map runs identical concurrent work once and forgets failures', async () => {
  const f = createFlightMap<number>();
  let calls = 0;
  const work = () => new Promise<number>((ok) => setTimeout(() => ok(++calls), 10));
  const [a, b] = await Promise.all([f.run('k', work), f.run('k', work)]);
  assert.is(a, 1);
  assert.is(b, 1);
  assert.is(calls, 1);
  await f.run('bad', () => Promise.reject(new Error('x'))).catch(() => {});
  assert.is(await f.run('bad', async () => 7), 7);
  assert.is(f.size, 0);
});

const LAYER = `sha256:${'ab'.repeat(32)}` as const;
const CONFIG = `sha256:${'cd'.repeat(32)}` as const;
const blob = (digest: typeof LAYER, kind: 'layer' | 'config', status: 'downloading' | 'done' | 'exists', current: number, size = 3_400_000): TransferEvent => ({
  type: 'blob',
  digest,
  kind,
  size,
  status,
  current,
});

test("pullStatusHandler() forwards a layer's bytes, at most once per interval, and always its start and end", () => {
  let t = 0;
  const got: Array<{ status: string; layer?: PullLayerProgress }> = [];
  const on = pullStatusHandler((status, layer) => got.push({ status, layer }), { intervalMs: 200, now: () => t });
  on({ type: 'resolved', ref: 'r', digest: CONFIG, mediaType: 'x' });
  on(blob(CONFIG as typeof LAYER, 'config', 'downloading', 0, 500));
  on(blob(LAYER, 'layer', 'downloading', 0));
  for (let i = 1; i <= 3; i++) {
    t += 50;
    on(blob(LAYER, 'layer', 'downloading', i * 1_048_576));
  } // 150 ms: dropped
  t += 60;
  on(blob(LAYER, 'layer', 'downloading', 2_000_000)); // 210 ms since the last one sent
  t += 10;
  on(blob(LAYER, 'layer', 'downloading', 3_000_000)); // too soon: the end brings the final count
  on(blob(LAYER, 'layer', 'done', 3_400_000));
  on(blob(CONFIG as typeof LAYER, 'config', 'done', 500, 500));
  assert.equal(got, [
    { status: `resolved ${CONFIG}`, layer: undefined },
    { status: 'layer abababababab downloading', layer: { digest: LAYER, current: 0, total: 3_400_000, state: 'downloading' } },
    { status: 'layer abababababab downloading', layer: { digest: LAYER, current: 2_000_000, total: 3_400_000, state: 'downloading' } },
    { status: 'layer abababababab done', layer: { digest: LAYER, current: 3_400_000, total: 3_400_000, state: 'done' } },
    { status: 'config cdcdcdcdcdcd done', layer: undefined },
  ]);
});

test('plain progress prints pulled layers as buildx does, one bytes line a second per layer at most', () => {
  const out = sink();
  const r = createPlainRenderer(out);
  const pull = (layer?: PullLayerProgress, status = 'x') => r.onEvent({ type: 'pull', ref: 'reg/app:1', status, ...(layer && { layer }) });
  pull(undefined, 'resolving');
  pull({ digest: LAYER, current: 0, total: 3_400_000, state: 'downloading' });
  for (let i = 1; i <= 20; i++) pull({ digest: LAYER, current: i * 100_000, total: 3_400_000, state: 'downloading' });
  pull({ digest: LAYER, current: 3_400_000, total: 3_400_000, state: 'done' });
  pull({ digest: CONFIG, current: 1_000, total: 1_000, state: 'exists' });
  r.close();
  const lines = out.text
    .split('\n')
    .filter(Boolean)
    .map((l) => l.replace(/ \d+\.\ds( |$)/, ' T$1'));
  assert.equal(lines, ['#0 reg/app:1: resolving', `#0 ${LAYER} 0B / 3.4MB T`, `#0 ${LAYER} 3.4MB / 3.4MB T done`, `#0 ${CONFIG} already exists`]);
});

test.run();
