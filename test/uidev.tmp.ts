import { Writable } from 'node:stream';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKilnServer } from '../src/server/server.js';
import { createLogger } from '../src/server/log.js';
import { routes } from '../src/server/routes/index.js';
import { fakeBackend } from './unit/server/fake-backend.js';
import { listRecords, readRecord, stepLogStream } from '../src/history/store.js';
import { sendJson } from '../src/server/http-util.js';
import { writeFixtureRecord } from './helpers/history-fixtures.js';
import { launchBrowser, watchPage, screenshot } from './helpers/browser.js';
const root = mkdtempSync(join(tmpdir(), 'uidev-'));
const now = Date.now();
const recs = [];
recs.push(await writeFixtureRecord(root, { start: now - 60000, kind: 'executed', logBytes: 400_000 }));
recs.push(await writeFixtureRecord(root, { start: now - 40000, kind: 'cached' }));
recs.push(await writeFixtureRecord(root, { start: now - 20000, kind: 'failed' }));
const fake = fakeBackend();
const extra = [
  { method: 'GET', pattern: '/kiln/v1/history', handler: async (ctx: any) => sendJson(ctx.res, 200, await listRecords(root)) },
  { method: 'GET', pattern: '/kiln/v1/history/{id}', handler: async (ctx: any) => sendJson(ctx.res, 200, await readRecord(root, ctx.params.id)) },
  {
    method: 'GET',
    pattern: '/kiln/v1/history/{id}/logs',
    handler: async (ctx: any) => {
      ctx.res.writeHead(200, { 'Content-Type': 'text/plain' });
      stepLogStream(root, ctx.params.id, Number(ctx.query.str('step'))).pipe(ctx.res);
    },
  },
];
const server = createKilnServer({
  backend: { ...fake.backend, stateRoot: root },
  routes: [...extra, ...routes] as any,
  listen: [{ kind: 'tcp', host: '127.0.0.1', port: 0 }],
  log: createLogger({ out: new Writable({ write: (_c, _e, cb) => cb() }) }),
});
const [addr] = await server.listen();
const base = addr.replace('tcp', 'http');
const b = await launchBrowser();
const page = await b.newPage({ viewport: { width: 1280, height: 900 } });
const w = watchPage(page);
await page.goto(base + '/ui/');
await page.waitForSelector('#builds tbody tr[data-id]');
console.log('rows', await page.locator('#builds tbody tr[data-id]').count());
await screenshot(page, 'dev-list');
for (const r of recs) {
  await page.goto(base + '/ui/#/build/' + r.id);
  await page.waitForSelector('#timeline .bar');
  await page.waitForTimeout(500);
  console.log(
    r.status,
    'bars',
    await page.locator('#timeline g.bar').count(),
    'crit',
    await page.locator('#timeline g.bar.critical').count(),
    'failing',
    await page.locator('#dockerfile li.failing').count(),
    'loginfo',
    await page.locator('#log-info').innerText(),
  );
  await screenshot(page, 'dev-' + r.status + r.steps[1].status);
}
await page.goto(base + `/ui/#/compare/${recs[0].id}/${recs[1].id}`);
await page.waitForSelector('#compare');
await screenshot(page, 'dev-compare');
console.log(w.errors, [...w.hosts]);
await b.close();
await server.close(100);
