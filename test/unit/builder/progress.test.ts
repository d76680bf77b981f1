import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Writable } from 'node:stream';
import { createPlainRenderer } from '../../../src/cli/progress/plain.js';
import { createJsonRenderer } from '../../../src/cli/progress/json.js';
import { createFlightMap } from '../../../src/builder/flight.js';

function sink(): Writable & { text: string } {
  const w = new Writable({ write(c, _e, cb) { (w as unknown as { text: string }).text += String(c); cb(); } }) as Writable & { text: string };
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
  const lines = out.text.split('\n').filter(Boolean).map((l) => l.replace(/ \d+\.\ds /, ' T '));
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
  const lines = out.text.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.map((l) => l.type), ['step-start', 'step-cached']);
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

test.run();
