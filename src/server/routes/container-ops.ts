/**
 * Container operations beyond run/stop/rm that the docker CLI uses: top, stats, pause, unpause, update, rename
 * and kill. Each is a thin handler over an optional ContainerBackend member (the work is in src/containers/).
 */
import { KilnError } from '../../errors.js';
import type { Handler } from '../context.js';
import type { Route } from '../router.js';
import type { ContainerBackend } from '../backend.js';
import { readJsonBody, sendJson } from '../http-util.js';

function op<K extends keyof ContainerBackend>(backend: { containers?: ContainerBackend }, name: K, what: string): NonNullable<ContainerBackend[K]> {
  const fn = backend.containers?.[name];
  if (!fn) throw new KilnError('NOT_IMPLEMENTED', `${what} is not available on this server`);
  return (fn as (...a: unknown[]) => unknown).bind(backend.containers) as NonNullable<ContainerBackend[K]>;
}

const top: Handler = async ({ res, state, params, query }) => {
  sendJson(res, 200, await op(state.backend, 'top', 'docker top')(params.id, query.str('ps_args')));
};

/** One JSON document a line; streamed as each sample is taken (the CLI redraws per line). */
const stats: Handler = async ({ res, state, params, query, signal }) => {
  const stream = query.str('stream') === undefined ? true : query.bool('stream');
  const oneShot = query.str('one-shot') === undefined ? false : query.bool('one-shot');
  if (oneShot && stream) throw new KilnError('INVALID_ARGUMENT', 'cannot have stream=true and one-shot=true');
  const fn = op(state.backend, 'stats', 'docker stats');
  let headersSent = false;
  await fn(params.id, { stream, oneShot, signal }, async (sample) => {
    if (!headersSent) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      headersSent = true;
    }
    await new Promise<void>((resolve) => res.write(JSON.stringify(sample) + '\n', () => resolve()));
  });
  if (!headersSent) res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end();
};

const pause: Handler = async ({ res, state, params }) => {
  await op(state.backend, 'pause', 'docker pause')(params.id);
  res.writeHead(204).end();
};

const unpause: Handler = async ({ res, state, params }) => {
  await op(state.backend, 'unpause', 'docker unpause')(params.id);
  res.writeHead(204).end();
};

const update: Handler = async ({ req, res, state, params }) => {
  const body = await readJsonBody<Record<string, unknown>>(req, state.limits.maxJsonBytes);
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new KilnError('INVALID_ARGUMENT', 'a JSON update config is required');
  sendJson(res, 200, await op(state.backend, 'update', 'docker update')(params.id, body));
};

const rename: Handler = async ({ res, state, params, query }) => {
  const name = query.str('name');
  if (!name) throw new KilnError('INVALID_ARGUMENT', 'rename needs a new name (name=)');
  await op(state.backend, 'rename', 'docker rename')(params.id, name);
  res.writeHead(204).end();
};

/** `docker kill [-s SIGNAL]`: SIGKILL unless the query names another. */
const kill: Handler = async ({ res, state, params, query }) => {
  await op(state.backend, 'kill', 'docker kill')(params.id, query.str('signal') || undefined);
  res.writeHead(204).end();
};

/** Before the generic container routes: `/containers/{id}/kill` there is a stop. */
export const containerOpsRoutes: Array<Route<Handler>> = [
  { method: 'GET', pattern: '/containers/{id}/top', handler: top },
  { method: 'GET', pattern: '/containers/{id}/stats', handler: stats },
  { method: 'POST', pattern: '/containers/{id}/pause', handler: pause },
  { method: 'POST', pattern: '/containers/{id}/unpause', handler: unpause },
  { method: 'POST', pattern: '/containers/{id}/update', handler: update },
  { method: 'POST', pattern: '/containers/{id}/rename', handler: rename },
  { method: 'POST', pattern: '/containers/{id}/kill', handler: kill },
];
