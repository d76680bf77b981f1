/**
 * Network endpoints (`docker network create/ls/inspect/rm/connect/disconnect/prune`), on the NetworkBackend.
 * `prune` comes before the `{id}` routes: it is not a network.
 */
import { KilnError } from '../../errors.js';
import type { Handler } from '../context.js';
import type { Route } from '../router.js';
import type { NetworkBackend, NetworkCreateBody } from '../backend.js';
import { readJsonBody, sendJson } from '../http-util.js';
import { parseFilters } from '../filters.js';

function networks(backend: { networks?: NetworkBackend }): NetworkBackend {
  if (!backend.networks) throw new KilnError('NOT_IMPLEMENTED', 'networks are not available on this server');
  return backend.networks;
}

const list: Handler = async ({ res, state, query }) => {
  sendJson(res, 200, await networks(state.backend).list({ filters: parseFilters(query.str('filters')) }));
};

const inspect: Handler = async ({ res, state, params, query }) => {
  const scope = query.str('scope');
  if (scope && scope !== 'local') throw new KilnError('NETWORK_NOT_FOUND', `network ${params.id} not found`);
  sendJson(res, 200, await networks(state.backend).inspect(params.id));
};

const create: Handler = async ({ req, res, state }) => {
  const body = await readJsonBody<NetworkCreateBody>(req, state.limits.maxJsonBytes);
  sendJson(res, 201, await networks(state.backend).create(body as NetworkCreateBody));
};

const remove: Handler = async ({ res, state, params }) => {
  await networks(state.backend).remove(params.id);
  res.writeHead(204).end();
};

const connect: Handler = async ({ req, res, state, params }) => {
  const body = await readJsonBody<Parameters<NetworkBackend['connect']>[1]>(req, state.limits.maxJsonBytes);
  await networks(state.backend).connect(params.id, body ?? {});
  res.writeHead(200).end();
};

const disconnect: Handler = async ({ req, res, state, params }) => {
  const body = await readJsonBody<Parameters<NetworkBackend['disconnect']>[1]>(req, state.limits.maxJsonBytes);
  await networks(state.backend).disconnect(params.id, body ?? {});
  res.writeHead(200).end();
};

const prune: Handler = async ({ res, state, query }) => {
  sendJson(res, 200, await networks(state.backend).prune({ filters: parseFilters(query.str('filters')) }));
};

export const networkRoutes: Array<Route<Handler>> = [
  { method: 'GET', pattern: '/networks', handler: list },
  { method: 'POST', pattern: '/networks/create', handler: create },
  { method: 'POST', pattern: '/networks/prune', handler: prune },
  { method: 'GET', pattern: '/networks/{id}', handler: inspect },
  { method: 'DELETE', pattern: '/networks/{id}', handler: remove },
  { method: 'POST', pattern: '/networks/{id}/connect', handler: connect },
  { method: 'POST', pattern: '/networks/{id}/disconnect', handler: disconnect },
];
