/**
 * Container endpoints for `docker run --rm IMAGE cmd` and friends: create, start, wait (headers first, the exit
 * status when it comes), logs, stop, kill, remove, list, inspect. Attach is an upgrade (attach.ts).
 */
import { KilnError } from '../../errors.js';
import type { Handler } from '../context.js';
import type { Route } from '../router.js';
import type { ContainerBackend, ContainerCreate } from '../backend.js';
import { readJsonBody, sendJson, errorMessage } from '../http-util.js';
import { checkContainerListFilters, containerPruneFilter, parseFilters } from '../filters.js';
import { frameWriter } from '../attach.js';
import { checkImageName } from '../image-name.js';
import { checkContainerEntitlements, confineHostBinds, mountsToBinds, refuseUnsupported, terminalSizeOf } from '../host-config.js';
import { createVolumeChecked, volumeCreateOf } from './volumes.js';

function containers(backend: { containers?: ContainerBackend }): ContainerBackend {
  if (!backend.containers) throw new KilnError('NOT_IMPLEMENTED', 'containers are not available on this server');
  return backend.containers;
}

const create: Handler = async ({ req, res, state, query }) => {
  const spec = await readJsonBody<ContainerCreate>(req, state.limits.maxJsonBytes);
  if (!spec || typeof spec !== 'object') throw new KilnError('INVALID_ARGUMENT', 'a JSON container config is required');
  if (typeof spec.Image === 'string') checkImageName(spec.Image);
  // An option kiln would not honour is refused before anything exists, never dropped (docs/server.md).
  refuseUnsupported(spec);
  const mountVolumes = mountsToBinds(spec);
  checkContainerEntitlements(spec, state.allow);
  if (spec.HostConfig?.Binds?.length) spec.HostConfig.Binds = await confineHostBinds(spec.HostConfig.Binds, state.bindRoots);
  for (const v of mountVolumes) await createVolumeChecked(state, volumeCreateOf(v));
  const r = await containers(state.backend).create(spec, { name: query.str('name'), platform: query.str('platform') || undefined });
  sendJson(res, 201, { Id: r.id, Warnings: r.warnings });
};

const start: Handler = async ({ res, state, params }) => {
  await containers(state.backend).start(params.id);
  res.writeHead(204).end();
};

const wait: Handler = async ({ res, state, params, query, signal }) => {
  const c = containers(state.backend);
  const condition = (query.str('condition') ?? 'not-running') as 'not-running' | 'next-exit' | 'removed';
  if (!['not-running', 'next-exit', 'removed'].includes(condition))
    throw new KilnError('INVALID_ARGUMENT', `wait condition ${JSON.stringify(condition)} is not one of not-running, next-exit, removed`);
  await c.inspect(params.id);
  // The docker CLI waits for these headers before it starts the container; the body follows at exit.
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.flushHeaders();
  try {
    const r = await c.wait(params.id, condition, { signal });
    res.end(JSON.stringify({ StatusCode: r.StatusCode, Error: null }));
  } catch (err) {
    res.end(JSON.stringify({ StatusCode: 125, Error: { Message: errorMessage(err) } }));
  }
};

const logs: Handler = async ({ res, state, params, query, signal }) => {
  const c = containers(state.backend);
  if (!c.logs) throw new KilnError('NOT_IMPLEMENTED', 'logs are not available');
  // `docker logs --tail N|all -t --since --until --details`: details adds a line's log-opt attributes, and kiln's
  // log has none, so it changes nothing. stdout/stderr: the CLI always sends both; neither means both.
  const tailArg = query.str('tail');
  let tail: number | undefined;
  if (tailArg !== undefined && tailArg !== 'all') {
    if (!/^-?\d+$/.test(tailArg)) throw new KilnError('INVALID_ARGUMENT', `--tail ${JSON.stringify(tailArg.slice(0, 40))}: a number of lines or "all"`);
    tail = Number(tailArg) < 0 ? undefined : Number(tailArg);
  }
  const instant = (name: 'since' | 'until'): number | undefined => {
    const v = query.str(name);
    if (v === undefined || /^0*(\.0*)?$/.test(v)) return undefined;
    if (!/^\d+(\.\d+)?$/.test(v)) throw new KilnError('INVALID_ARGUMENT', `--${name} ${JSON.stringify(v.slice(0, 40))}: seconds since the epoch expected`);
    return Number(v) * 1000;
  };
  const [since, until] = [instant('since'), instant('until')];
  const [stdout, stderr] = [query.bool('stdout'), query.bool('stderr')];
  const both = !stdout && !stderr;
  const info = (await c.inspect(params.id)) as { Config?: { Tty?: boolean } };
  const tty = Boolean(info.Config?.Tty);
  res.writeHead(200, { 'Content-Type': `application/vnd.docker.${tty ? 'raw' : 'multiplexed'}-stream` });
  const sock = res as unknown as import('node:stream').Duplex;
  await c.logs(
    params.id,
    { stdout: frameWriter(sock, 1, tty), stderr: frameWriter(sock, 2, tty) },
    { follow: query.bool('follow'), tail, timestamps: query.bool('timestamps'), since, until, stdout: both || stdout, stderr: both || stderr, signal },
  );
  res.end();
};

const stop: Handler = async ({ res, state, params, query }) => {
  await containers(state.backend).stop(params.id, { timeoutSeconds: query.int('t') });
  res.writeHead(204).end();
};

const restart: Handler = async ({ res, state, params, query }) => {
  const c = containers(state.backend);
  if (!c.restart) throw new KilnError('NOT_IMPLEMENTED', 'restart is not available on this server');
  await c.restart(params.id, { timeoutSeconds: query.int('t') });
  res.writeHead(204).end();
};

const remove: Handler = async ({ res, state, params, query }) => {
  await containers(state.backend).remove(params.id, { force: query.bool('force'), volumes: query.bool('v') });
  res.writeHead(204).end();
};

const list: Handler = async ({ res, state, query }) => {
  const filters = parseFilters(query.str('filters'));
  const { impliesAll } = checkContainerListFilters(filters);
  sendJson(res, 200, await containers(state.backend).list({ all: query.bool('all') || impliesAll, filters, size: query.bool('size') }));
};

/** `docker container prune`: stopped containers (label, label!, until filters); answers what went. */
const prune: Handler = async ({ res, state, query }) => {
  const c = containers(state.backend);
  if (!c.prune) throw new KilnError('NOT_IMPLEMENTED', 'container prune is not available on this server');
  const filters = parseFilters(query.str('filters'));
  containerPruneFilter(filters); // a bad filter is a 400 before anything goes
  sendJson(res, 200, await c.prune({ filters }));
};

const inspect: Handler = async ({ res, state, params, query }) => {
  sendJson(res, 200, await containers(state.backend).inspect(params.id, { size: query.bool('size') }));
};

/** `docker run -t` sizes the container's terminal (and again on every resize of the client's window). */
const resize: Handler = async ({ res, state, params, query }) => {
  const [rows, cols] = terminalSize(query.int('h'), query.int('w'));
  await containers(state.backend).resize?.(params.id, rows, cols);
  res.writeHead(200).end();
};

/** `h` and `w` as a terminal size: positive integers a terminal can have. */
export function terminalSize(h: number | undefined, w: number | undefined): [number, number] {
  const size = terminalSizeOf(h, w);
  if (!size) throw new KilnError('INVALID_ARGUMENT', 'resize needs h and w, positive integers up to 65535');
  return size;
}

export const containerRoutes: Array<Route<Handler>> = [
  { method: 'POST', pattern: '/containers/create', handler: create },
  { method: 'GET', pattern: '/containers/json', handler: list },
  // Before the `{id}` routes: `prune` is not a container.
  { method: 'POST', pattern: '/containers/prune', handler: prune },
  { method: 'GET', pattern: '/containers/{id}/json', handler: inspect },
  { method: 'POST', pattern: '/containers/{id}/start', handler: start },
  { method: 'POST', pattern: '/containers/{id}/wait', handler: wait },
  { method: 'GET', pattern: '/containers/{id}/logs', handler: logs },
  { method: 'POST', pattern: '/containers/{id}/stop', handler: stop },
  { method: 'POST', pattern: '/containers/{id}/kill', handler: stop },
  { method: 'POST', pattern: '/containers/{id}/restart', handler: restart },
  { method: 'POST', pattern: '/containers/{id}/resize', handler: resize },
  { method: 'DELETE', pattern: '/containers/{id}', handler: remove },
];
