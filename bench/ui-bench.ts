/**
 * The history page with 500 build records (written through the history store, each with 8 steps in 3 stages and
 * step logs): time from navigation to DOMContentLoaded and to the page being drawn (the list's rows; the build's
 * timeline bars) in Debian's headless chromium, against `kiln ui` over that root. Medians of N loads in a fresh
 * browser context each (no HTTP cache), with the machine's load printed beside them.
 * Run: npx tsx bench/ui-bench.ts [runs]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchBrowser } from '../test/helpers/browser.js';
import { writeFixtureRecord } from '../test/helpers/history-fixtures.js';
import { startUi } from '../test/integration/ui/ui-helpers.js';
import { median } from './lib.js';

const RUNS = Number(process.argv[2] ?? 7);
const RECORDS = 500;
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

const root = mkdtempSync(join(tmpdir(), 'kiln-ui-bench-'));
const kinds = ['executed', 'cached', 'failed'] as const;
const now = Date.now();
let last = '';
for (let i = 0; i < RECORDS; i++) last = (await writeFixtureRecord(root, { start: now - (RECORDS - i) * 60_000, kind: kinds[i % 3], logBytes: 2000 })).id;
process.stdout.write(`${RECORDS} records written; load at start ${load()}\n`);

const ui = await startUi(root);
const browser = await launchBrowser();
try {
  const measure = async (path: string, ready: string, count: number) => {
    const dcl: number[] = [];
    const phases: Record<string, number[]> = {};
    const drawn: number[] = [];
    for (let i = 0; i < RUNS + 1; i++) {
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      const t0 = Date.now();
      await page.goto(`${ui.url}${path}`, { waitUntil: 'domcontentloaded' });
      const t1 = Date.now();
      await page
        .locator(ready)
        .nth(count - 1)
        .waitFor();
      const t2 = Date.now();
      // The list marks its own phases (list.js): the API answer and the drawing of the rows.
      const marks = await page.evaluate(() => JSON.stringify(performance.getEntriesByType('measure').map((e) => [e.name, e.duration])));
      for (const [name, ms] of JSON.parse(marks) as Array<[string, number]>) (phases[name] ??= []).push(Math.round(ms));
      await ctx.close();
      if (i === 0) continue; // warm-up: the server's first read of the asset files
      dcl.push(t1 - t0);
      drawn.push(t2 - t0);
    }
    const detail = Object.entries(phases)
      .map(([k, v]) => `${k} ${median(v.slice(1))} ms`)
      .join(', ');
    return { dcl: median(dcl), drawn: median(drawn), detail };
  };
  const list = await measure('/ui/', '#builds tbody tr[data-id]', RECORDS);
  const build = await measure(`/ui/#/build/${last}`, '#timeline g.bar', 8);
  process.stdout.write(`| page (${RECORDS} records, medians of ${RUNS}, load ${load()}) | DOMContentLoaded | drawn | in the page |\n|---|---|---|---|\n`);
  process.stdout.write(`| list | ${list.dcl} ms | ${list.drawn} ms (500 rows) | ${list.detail} |\n`);
  process.stdout.write(`| one build | ${build.dcl} ms | ${build.drawn} ms (timeline) | |\n`);
} finally {
  await browser.close();
  await ui.stop();
  rmSync(root, { recursive: true, force: true });
}
