/**
 * The data the web page reads beyond the history API itself: a record's Dockerfile text and its result image's
 * layers (from the local store; a pruned image answers 404 with a hint). Both are read-only and live beside kiln's
 * other `/kiln/v1/history/{id}/…` routes.
 */
import type { Handler } from '../context.js';
import type { Route } from '../router.js';
import { KilnError } from '../../errors.js';
import { readRecord, readRecordDockerfile } from '../../history/store.js';
import { sendJson } from '../http-util.js';

function historyRoot(ctx: Parameters<Handler>[0]): string {
  const root = ctx.state.backend.historyRoot;
  if (!root) throw new KilnError('NOT_IMPLEMENTED', 'this server keeps no build records');
  return root;
}

/** `GET /kiln/v1/history/{id}/dockerfile`: the text built, as text/plain. */
const getDockerfile: Handler = async (ctx) => {
  const root = historyRoot(ctx);
  await readRecord(root, ctx.params.id);
  const text = await readRecordDockerfile(root, ctx.params.id);
  if (text === undefined) throw new KilnError('NOT_FOUND', `build record ${ctx.params.id} has no Dockerfile (it was read from stdin or not stored)`);
  ctx.res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'X-Content-Type-Options': 'nosniff' });
  ctx.res.end(text);
};

/**
 * `GET /kiln/v1/history/{id}/layers[?platform=os/arch][&files=N]`: the result image's layers, bottom first, each with
 * its size and at most N (default 500) paths added and removed.
 */
const getLayers: Handler = async (ctx) => {
  const root = historyRoot(ctx);
  const rec = await readRecord(root, ctx.params.id);
  const digest = rec.result?.manifestDigest;
  if (!digest) throw new KilnError('NOT_FOUND', `build ${ctx.params.id} produced no image`);
  if (!ctx.state.backend.imageLayers) throw new KilnError('NOT_IMPLEMENTED', 'this server has no image store');
  const platform = ctx.query.str('platform');
  const maxFiles = ctx.query.int('files');
  const layers = await ctx.state.backend.imageLayers(digest, { signal: ctx.signal, platform, maxFiles }).catch((err: unknown) => {
    if (err instanceof KilnError && err.code === 'BLOB_NOT_FOUND')
      throw new KilnError('NOT_FOUND', `the image of build ${ctx.params.id} is no longer in the store`, { hint: 'it was removed or pruned', cause: err });
    throw err;
  });
  sendJson(ctx.res, 200, layers);
};

export const historyUiRoutes: Array<Route<Handler>> = [
  { method: 'GET', pattern: '/kiln/v1/history/{id}/dockerfile', handler: getDockerfile },
  { method: 'GET', pattern: '/kiln/v1/history/{id}/layers', handler: getLayers },
];
