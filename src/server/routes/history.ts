/**
 * kiln's own build-record API (outside Docker's): `GET /kiln/v1/history` (list, `filters` as Docker's JSON:
 * status, ref, since, until; `summary=1` for the steps' id, kind and status only), `GET /kiln/v1/history/{ref}` (one record), `…/logs?step=N` (text/plain, streamed,
 * decompressed as it is sent, never read whole), `…/trace` (OTLP JSON), `…/export` (a tar), and
 * `DELETE /kiln/v1/history/{ref}`. `{ref}` is an id, a unique prefix or `^N`. The records are the server root's:
 * every build any client ran through this server.
 */
import { pipeline } from 'node:stream/promises';
import { KilnError } from '../../errors.js';
import { recordToOtlp } from '../../history/otlp.js';
import { exportRecord, listRecords, readRecord, recordLogStream, removeRecord, resolveRecordRef, summarizeRecord } from '../../history/store.js';
import type { BuildStatus, HistoryFilter } from '../../history/types.js';
import type { Handler, RequestContext } from '../context.js';
import type { Route } from '../router.js';
import { checkFilterKeys, parseFilters, parseTimestamp } from '../filters.js';
import { sendJson } from '../http-util.js';

function rootOf(ctx: RequestContext): string {
  const root = ctx.state.backend.historyRoot;
  if (!root) throw new KilnError('NOT_IMPLEMENTED', 'this server keeps no build records');
  return root;
}

const STATUSES = ['running', 'completed', 'failed', 'cancelled', 'incomplete'];

const list: Handler = async (ctx) => {
  const f = parseFilters(ctx.query.str('filters'));
  checkFilterKeys(f, ['status', 'ref', 'since', 'until']);
  const filter: HistoryFilter = {};
  for (const s of f.get('status') ?? []) {
    if (!STATUSES.includes(s)) throw new KilnError('INVALID_ARGUMENT', `filter status=${s}: one of ${STATUSES.join(', ')}`);
    filter.status = [...(filter.status ?? []), s as BuildStatus];
  }
  const ref = f.get('ref')?.[0];
  if (ref !== undefined) filter.ref = ref;
  for (const key of ['since', 'until'] as const) {
    const v = f.get(key)?.[0];
    if (v === undefined) continue;
    const t = parseTimestamp(v) ?? Date.parse(v);
    if (Number.isNaN(t)) throw new KilnError('INVALID_ARGUMENT', `filter ${key}=${v}: not a time`);
    filter[key] = t;
  }
  const records = await listRecords(rootOf(ctx), filter);
  const summary = ctx.query.str('summary');
  if (summary !== undefined && !['0', '1', 'true', 'false'].includes(summary)) throw new KilnError('INVALID_ARGUMENT', `summary=${summary}: 1 or 0 expected`);
  // `summary=1`: what the web page's list shows (each step's id, kind and status only).
  sendJson(ctx.res, 200, summary === '1' || summary === 'true' ? records.map(summarizeRecord) : records);
};

const resolve = async (ctx: RequestContext) => resolveRecordRef(rootOf(ctx), ctx.params.ref!);

const inspect: Handler = async (ctx) => sendJson(ctx.res, 200, await readRecord(rootOf(ctx), await resolve(ctx)));

const logs: Handler = async (ctx) => {
  const raw = ctx.query.str('step');
  if (raw !== undefined && !/^[1-9]\d*$/.test(raw)) throw new KilnError('INVALID_ARGUMENT', `step=${raw}: a step number (from 1) expected`);
  const stream = await recordLogStream(rootOf(ctx), await resolve(ctx), raw !== undefined ? { step: Number(raw) } : {});
  ctx.res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
  await pipeline(stream, ctx.res).catch(() => ctx.res.destroy());
};

const trace: Handler = async (ctx) => sendJson(ctx.res, 200, recordToOtlp(await readRecord(rootOf(ctx), await resolve(ctx)), ctx.state.version));

const exportTar: Handler = async (ctx) => {
  const id = await resolve(ctx);
  const tar = await exportRecord(rootOf(ctx), id);
  ctx.res.writeHead(200, { 'Content-Type': 'application/x-tar', 'Content-Disposition': `attachment; filename="${id}.tar"` });
  await pipeline(tar, ctx.res).catch(() => ctx.res.destroy());
};

const remove: Handler = async (ctx) => {
  const id = await resolve(ctx);
  const rec = await readRecord(rootOf(ctx), id);
  if (rec.status === 'running') throw new KilnError('PRECONDITION', `build ${id} is running`);
  await removeRecord(rootOf(ctx), id);
  sendJson(ctx.res, 200, { id });
};

export const historyRoutes: Array<Route<Handler>> = [
  { method: 'GET', pattern: '/kiln/v1/history', handler: list },
  { method: 'GET', pattern: '/kiln/v1/history/{ref}/logs', handler: logs },
  { method: 'GET', pattern: '/kiln/v1/history/{ref}/trace', handler: trace },
  { method: 'GET', pattern: '/kiln/v1/history/{ref}/export', handler: exportTar },
  { method: 'GET', pattern: '/kiln/v1/history/{ref}', handler: inspect },
  { method: 'DELETE', pattern: '/kiln/v1/history/{ref}', handler: remove },
];
