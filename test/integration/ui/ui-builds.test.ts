// The web page over real builds through a real `kiln serve` with a token, driven by the docker CLI: a multi-stage
// build whose two independent stages each sleep a second (so they run side by side), its cached rebuild, and a
// failing build. Checked in Debian's headless chromium: the list, one bar per step with the parallel stages
// overlapping, cached marks, the failing Dockerfile line, 401 without the token, no request off loopback.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { docker, startServe, type Served } from '../server/serve-helper.js';
import { launchBrowser, screenshot, watchPage } from '../../helpers/browser.js';
import { timelineBars } from './ui-helpers.js';

const PARALLEL = `FROM busybox AS one
RUN sleep 1 && echo one > /one

FROM busybox AS two
RUN sleep 1 && echo two > /two

FROM busybox
COPY --from=one /one /one
COPY --from=two /two /two
RUN cat /one /two > /both
`;

const FAILING = `FROM busybox
RUN echo before
RUN echo about to fail && exit 7
RUN echo never
`;

let served: Served;
let browser: Browser;
let ctxDir: string;
let failDir: string;
const base = () => `http://127.0.0.1:${served.port}`;

interface ListedRecord {
  id: string;
  status: string;
  tags: string[];
  steps: Array<{ id: number; stage: string; status: string; kind: string }>;
}

async function records(): Promise<ListedRecord[]> {
  const r = await fetch(`${base()}/kiln/v1/history`, { headers: { Authorization: `Bearer ${served.token}` } });
  assert.is(r.status, 200);
  const body = (await r.json()) as ListedRecord[] | { records: ListedRecord[] };
  return Array.isArray(body) ? body : body.records;
}

async function signedIn(): Promise<{ page: Page; watch: ReturnType<typeof watchPage>; close(): Promise<void> }> {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  const watch = watchPage(page);
  await page.goto(`${base()}/ui/?token=${served.token}`);
  return { page, watch, close: () => ctx.close() };
}

test.before(async () => {
  served = await startServe({ token: true });
  ctxDir = mkdtempSync(join(tmpdir(), 'kiln-ui-ctx-'));
  failDir = mkdtempSync(join(tmpdir(), 'kiln-ui-fail-'));
  writeFileSync(join(ctxDir, 'Dockerfile'), PARALLEL);
  writeFileSync(join(failDir, 'Dockerfile'), FAILING);
  for (const [dir, tag] of [
    [ctxDir, 'ui-test:first'],
    [ctxDir, 'ui-test:cached'],
  ]) {
    const r = await docker(served, ['build', '-t', tag, dir], { timeoutMs: 240_000 });
    assert.is(r.code, 0, r.stderr + served.logs());
  }
  const f = await docker(served, ['build', '-t', 'ui-test:fail', failDir], { timeoutMs: 240_000 });
  assert.is.not(f.code, 0);
  browser = await launchBrowser();
});

test.after(async () => {
  await browser?.close();
  await served?.stop();
  rmSync(ctxDir, { recursive: true, force: true });
  rmSync(failDir, { recursive: true, force: true });
});

test('without the token: 401 for the page and the history API', async () => {
  const page = await fetch(`${base()}/ui/`);
  assert.is(page.status, 401);
  const api = await fetch(`${base()}/kiln/v1/history`);
  assert.is(api.status, 401);
  const layers = await fetch(`${base()}/kiln/v1/history/0123456789abcdefghijklmnop/layers`);
  assert.is(layers.status, 401);
});

test('the list shows the three builds', async () => {
  const { page, watch, close } = await signedIn();
  await page.waitForSelector('#builds tbody tr[data-id]');
  const rows = await page.$$eval('#builds tbody tr[data-id]', (trs) => trs.map((t) => [t.getAttribute('data-status'), t.textContent]));
  assert.is(rows.length, 3);
  assert.equal(
    rows.map((r) => r[0]),
    ['failed', 'completed', 'completed'],
  );
  assert.match(rows[1][1]!, /ui-test:cached/);
  await screenshot(page, 'served-list');
  assert.equal([...watch.hosts], ['127.0.0.1'], 'no request leaves loopback');
  assert.equal(watch.errors, []);
  await close();
});

test('the first build: one bar per step, the two sleeping stages overlap; layers listed', async () => {
  const recs = await records();
  const first = recs.find((r) => r.tags.some((t) => t.includes('ui-test:first')))!;
  const { page, watch, close } = await signedIn();
  await page.goto(`${base()}/ui/#/build/${first.id}`);
  await page.waitForSelector('#timeline g.bar');
  const bars = await timelineBars(page);
  assert.is(bars.length, first.steps.length);
  const sleeps = bars.filter((b) => b.end - b.start >= 900);
  assert.is(sleeps.length, 2, JSON.stringify(bars));
  const [a, b] = sleeps;
  assert.is.not(a.stage, b.stage);
  assert.ok(a.start < b.end && b.start < a.end, `the two stages ran side by side: ${JSON.stringify(sleeps)}`);
  assert.ok(a.x < b.x + b.w && b.x < a.x + a.w, 'and are drawn overlapping');
  assert.ok(bars.some((x) => x.critical));
  await page.locator('#layers details.layer').first().waitFor();
  assert.ok((await page.locator('#layers details.layer').count()) >= 2);
  assert.match(await page.locator('#layers').innerText(), /\+/);
  await screenshot(page, 'served-timeline', '#timeline-section');
  await screenshot(page, 'served-build');
  assert.equal([...watch.hosts], ['127.0.0.1']);
  assert.equal(watch.errors, []);
  await close();
});

test('the rebuild marks its steps cached', async () => {
  const recs = await records();
  const again = recs.find((r) => r.tags.some((t) => t.includes('ui-test:cached')))!;
  const { page, close } = await signedIn();
  await page.goto(`${base()}/ui/#/build/${again.id}`);
  await page.waitForSelector('#timeline g.bar');
  const bars = await timelineBars(page);
  const nonFrom = again.steps.filter((s) => s.kind !== 'FROM').map((s) => s.id);
  assert.ok(nonFrom.length >= 4);
  assert.equal(
    bars
      .filter((b) => b.cached)
      .map((b) => b.step)
      .sort((x, y) => x - y),
    nonFrom.sort((x, y) => x - y),
  );
  assert.match(await page.locator('#cache-summary').innerText(), /100% cached/);
  await screenshot(page, 'served-cached');
  await close();
});

test('the failed build marks its failing line', async () => {
  const recs = await records();
  const failed = recs.find((r) => r.status === 'failed')!;
  const { page, close } = await signedIn();
  await page.goto(`${base()}/ui/#/build/${failed.id}`);
  const line = page.locator('#dockerfile li.failing');
  await line.waitFor();
  assert.is(await line.getAttribute('data-line'), '3');
  assert.is(await line.getAttribute('aria-invalid'), 'true');
  assert.match(await line.innerText(), /exit 7/);
  await page.locator('#log', { hasText: 'about to fail' }).waitFor();
  await screenshot(page, 'served-failed');
  await close();
});

test.run();
