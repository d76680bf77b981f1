// The web page in Debian's headless chromium over records written through the history store (fixed timings, so
// the geometry is exact): the list, the timeline's bars and parallel lanes, cached marks, the critical path, the
// failing line, streamed logs with search, the comparison, the token login, and no request off loopback.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { launchBrowser, screenshot, watchPage } from '../../helpers/browser.js';
import { writeFixtureRecord } from '../../helpers/history-fixtures.js';
import type { BuildRecord } from '../../../src/history/types.js';
import { writeRecord } from '../../../src/history/store.js';
import { openRoot } from '../../../src/cache/root.js';
import { kiln } from '../../helpers/kiln-cli.js';
import { startUi, timelineBars, type UiServer } from './ui-helpers.js';

const TOKEN = 'ui-test-token-0123456789';
let root: string;
let ui: UiServer;
let browser: Browser;
const recs: Record<string, BuildRecord> = {};

test.before(async () => {
  root = mkdtempSync(join(tmpdir(), 'kiln-ui-page-'));
  // A real image in the root's store for the layer view: busybox from Debian's busybox-static.
  const base = await kiln(['base', 'busybox'], { root });
  assert.is(base.code, 0, base.stderr);
  const store = await openRoot(root);
  const image = await store.images.resolve('busybox');
  await store.close();
  const now = Date.now();
  recs.executed = await writeFixtureRecord(root, {
    start: now - 60_000,
    kind: 'executed',
    logBytes: 600_000,
    tag: 'app:first',
    manifestDigest: image.manifestDigest,
  });
  recs.cached = await writeFixtureRecord(root, { start: now - 40_000, kind: 'cached', tag: 'app:second' });
  recs.failed = await writeFixtureRecord(root, { start: now - 20_000, kind: 'failed', tag: 'app:third' });
  ui = await startUi(root, { token: TOKEN });
  browser = await launchBrowser();
});

test.after(async () => {
  await browser?.close();
  await ui?.stop();
  rmSync(root, { recursive: true, force: true });
});

async function signedIn() {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  const watch = watchPage(page);
  // The token once in the address; the server answers with the session cookie and a redirect that drops it.
  await page.goto(`${ui.url}/ui/?token=${TOKEN}`);
  assert.is(new URL(page.url()).search, '', 'the token is gone from the address bar');
  return { ctx, page, watch };
}

test('without the token the page and the API answer 401; the login form signs in', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const res = await page.goto(`${ui.url}/ui/`);
  assert.is(res?.status(), 401);
  const api = await page.request.get(`${ui.url}/kiln/v1/history`);
  assert.is(api.status(), 401);
  await page.fill('input[name=token]', TOKEN);
  await Promise.all([page.waitForURL(`${ui.url}/ui/`), page.click('button[type=submit]')]);
  await page.waitForSelector('#builds tbody tr[data-id]');
  const cookies = await ctx.cookies();
  const c = cookies.find((x) => x.name === 'kiln_ui');
  assert.ok(c?.httpOnly);
  assert.is(c?.sameSite, 'Strict');
  await ctx.close();
});

test('the list shows every build with status, cache ratio and tags', async () => {
  const { ctx, page, watch } = await signedIn();
  await page.waitForSelector('#builds tbody tr[data-id]');
  const rows = await page.$$eval('#builds tbody tr[data-id]', (trs) =>
    trs.map((tr) => ({ id: tr.getAttribute('data-id'), status: tr.getAttribute('data-status'), text: tr.textContent })),
  );
  assert.equal(
    rows.map((r) => r.id),
    [recs.failed.id, recs.cached.id, recs.executed.id],
  );
  assert.equal(
    rows.map((r) => r.status),
    ['failed', 'completed', 'completed'],
  );
  assert.match(rows[1].text!, /app:second/);
  assert.match(rows[1].text!, /100%/);
  await screenshot(page, 'list');
  assert.equal([...watch.hosts], ['127.0.0.1']);
  assert.equal(watch.errors, []);
  await ctx.close();
});

test('the timeline has one bar per step, the two parallel stages overlap, the critical path runs through them', async () => {
  const { ctx, page, watch } = await signedIn();
  await page.goto(`${ui.url}/ui/#/build/${recs.executed.id}`);
  await page.waitForSelector('#timeline g.bar');
  const bars = await timelineBars(page);
  assert.is(bars.length, recs.executed.steps.length);
  const a = bars.find((b) => b.step === 2)!;
  const b = bars.find((b) => b.step === 4)!;
  assert.ok(a.y !== b.y, 'separate lanes');
  assert.ok(a.x < b.x + b.w && b.x < a.x + a.w, `bars overlap in time: ${JSON.stringify([a, b])}`);
  assert.ok(a.w > 300, 'a 1 s step of a 1.4 s build is most of the width');
  assert.equal(
    bars.filter((x) => x.critical).map((x) => x.step),
    [3, 4, 6, 7, 8],
  );
  // The result image's layers, as dive lists them: busybox's one layer adds /bin/busybox.
  const layer = page.locator('#layers details.layer').first();
  await layer.waitFor();
  await layer.locator('summary').click();
  assert.match(await layer.innerText(), /\+ \/bin\/busybox/);
  await screenshot(page, 'timeline', '#timeline-section');
  await screenshot(page, 'build');
  assert.equal(watch.errors, []);
  await ctx.close();
});

test('a cached rebuild marks its cached steps', async () => {
  const { ctx, page } = await signedIn();
  await page.goto(`${ui.url}/ui/#/build/${recs.cached.id}`);
  await page.waitForSelector('#timeline g.bar');
  const bars = await timelineBars(page);
  assert.equal(
    bars.filter((x) => x.cached).map((x) => x.step),
    [2, 4, 6, 7, 8],
  );
  assert.match(await page.locator('#cache-summary').innerText(), /100% cached/);
  await ctx.close();
});

test("a failed build marks its failing Dockerfile line and opens that step's log", async () => {
  const { ctx, page } = await signedIn();
  await page.goto(`${ui.url}/ui/#/build/${recs.failed.id}`);
  const line = page.locator('#dockerfile li.failing');
  await line.waitFor();
  assert.is(await line.getAttribute('data-line'), '10');
  assert.is(await line.getAttribute('aria-invalid'), 'true');
  assert.match(await line.innerText(), /RUN cat \/a \/b && exit 3[\s\S]*exit code: 3/);
  await page.locator('#log', { hasText: 'output of step 8' }).waitFor();
  assert.match(await page.locator('#log-title').innerText(), /#8/);
  await screenshot(page, 'failed');
  await ctx.close();
});

test('logs stream in chunks with "load more", and search lists matching lines', async () => {
  const { ctx, page } = await signedIn();
  await page.goto(`${ui.url}/ui/#/build/${recs.executed.id}`);
  await page.click('#timeline g.bar[data-step="2"]');
  await page.locator('#log-info', { hasText: 'loaded' }).waitFor();
  const first = (await page.locator('#log').textContent())!.length;
  assert.ok(first >= 256 * 1024 && first < 600_000, `only the first part is shown: ${first}`);
  assert.is(first, 256 * 1024);
  await page.click('#logs button:has-text("Load more")');
  await page.locator('#log-info', { hasText: '512 KiB loaded' }).waitFor();
  assert.is((await page.locator('#log').textContent())!.length, 512 * 1024);
  await page.click('#logs button:has-text("Follow")');
  await page.locator('#log-info', { hasText: 'end of log' }).waitFor();
  assert.ok((await page.locator('#log').textContent())!.length >= 600_000);
  await page.fill('#log-search', 'step 2');
  assert.ok((await page.locator('#log-results li').count()) > 100);
  await ctx.close();
});

test('two builds side by side say which steps changed and why', async () => {
  const { ctx, page } = await signedIn();
  await page.goto(`${ui.url}/ui/#/compare/${recs.cached.id}/${recs.failed.id}`);
  await page.waitForSelector('#compare tbody tr');
  const changed = await page.$$eval('#compare tbody tr[data-changed="true"]', (trs) => trs.map((t) => t.textContent));
  assert.is(changed.length, 5);
  assert.ok(changed.every((t) => /ran in B: no cache entry/.test(t!)));
  await screenshot(page, 'compare');
  await ctx.close();
});

test('a running build updates live: the list and the build page follow its record', async () => {
  const running = await writeFixtureRecord(root, { start: Date.now() - 2_000, kind: 'running', tag: 'app:live' });
  const { ctx, page } = await signedIn();
  await page.locator(`#builds tr[data-id="${running.id}"][data-status="running"]`).waitFor();
  assert.match(await page.locator('#list-summary').innerText(), /1 running/);
  await page.goto(`${ui.url}/ui/#/build/${running.id}`);
  await page.locator('#timeline g.bar.st-running[data-step="8"]').waitFor();
  // The builder finishes the step and the build: the page redraws from the rewritten record within a few seconds.
  const last = running.steps[7];
  await writeRecord(root, {
    ...running,
    status: 'completed',
    end: Date.now(),
    steps: [...running.steps.slice(0, 7), { ...last, status: 'executed', end: Date.now() }],
  });
  await page.locator('#build-status', { hasText: 'completed' }).waitFor({ timeout: 10_000 });
  await page.locator('#timeline g.bar.st-executed[data-step="8"]').waitFor();
  await ctx.close();
});

test.run();
