/**
 * The container file-system endpoints: `docker diff` (`GET /containers/{id}/changes`), `docker cp` (`HEAD`, `GET`
 * and `PUT /containers/{id}/archive?path=`), `docker export` (`GET /containers/{id}/export`) and `docker commit`
 * (`POST /commit`). Paths are resolved inside the container by the backend (src/containers/container-fs.ts).
 */
import type { Readable } from 'node:stream';
import { KilnError } from '../../errors.js';
import type { ContainerBackend } from '../backend.js';
import type { Handler } from '../context.js';
import { sendJson } from '../http-util.js';
import type { Route } from '../router.js';
import { commitReference } from '../../containers/commit.js';
import type { ContainerPathStat } from '../../containers/container-fs.js';

/** The backend member `name`, or NOT_IMPLEMENTED naming the operation. */
function member<K extends keyof ContainerBackend>(backend: { containers?: ContainerBackend }, name: K, what: string): NonNullable<ContainerBackend[K]> {
  const m = backend.containers?.[name];
  if (!m) throw new KilnError('NOT_IMPLEMENTED', `${what} is not available on this server`);
  return (m as (...a: unknown[]) => unknown).bind(backend.containers) as NonNullable<ContainerBackend[K]>;
}

/** The stat header the docker CLI decodes: base64 of the JSON stat. */
function statHeader(stat: ContainerPathStat): string {
  return Buffer.from(JSON.stringify(stat)).toString('base64');
}

function pathParam(query: { str(n: string): string | undefined }): string {
  const p = query.str('path');
  if (!p) throw new KilnError('INVALID_ARGUMENT', 'path is required (?path=)');
  return p;
}

const changes: Handler = async ({ res, state, params }) => {
  sendJson(res, 200, await member(state.backend, 'changes', 'docker diff')(params.id));
};

/** HEAD: the stat alone; GET: the stat and the tar of the path. */
const getArchive: Handler = async ({ req, res, state, params, query, signal }) => {
  const path = pathParam(query);
  if (req.method === 'HEAD') {
    const stat = await member(state.backend, 'statPath', 'docker cp')(params.id, path);
    res.writeHead(200, { 'Content-Type': 'application/json', 'X-Docker-Container-Path-Stat': statHeader(stat) }).end();
    return;
  }
  await member(state.backend, 'archive', 'docker cp')(
    params.id,
    path,
    (stat) => {
      res.writeHead(200, { 'Content-Type': 'application/x-tar', 'X-Docker-Container-Path-Stat': statHeader(stat) });
      return res;
    },
    { signal },
  );
};

const putArchive: Handler = async ({ req, res, state, params, query, signal }) => {
  const path = pathParam(query);
  await member(state.backend, 'extract', 'docker cp')(params.id, path, req as Readable, {
    noOverwriteDirNonDir: query.bool('noOverwriteDirNonDir'),
    copyUIDGID: query.bool('copyUIDGID'),
    signal,
  });
  res.writeHead(200).end();
};

const exportContainer: Handler = async ({ res, state, params, signal }) => {
  // Headers go out only once the container's root is reachable, so a missing container is still a 404.
  await member(state.backend, 'export', 'docker export')(
    params.id,
    () => {
      res.writeHead(200, { 'Content-Type': 'application/x-tar' });
      return res;
    },
    { signal },
  );
};

const commit: Handler = async ({ res, state, query, signal }) => {
  const container = query.str('container');
  if (!container) throw new KilnError('INVALID_ARGUMENT', 'container is required (?container=)');
  const ref = commitReference(query.str('repo'), query.str('tag'));
  // pause defaults to true, as dockerd's.
  const pause = query.params.has('pause') && query.params.get('pause') !== '' ? query.bool('pause') : true;
  const r = await member(
    state.backend,
    'commit',
    'docker commit',
  )(container, {
    ref,
    changes: query.all('changes'),
    comment: query.str('comment'),
    author: query.str('author'),
    pause,
    signal,
  });
  sendJson(res, 201, r);
};

export const containerFsRoutes: Array<Route<Handler>> = [
  { method: 'GET', pattern: '/containers/{id}/changes', handler: changes },
  { method: 'GET', pattern: '/containers/{id}/archive', handler: getArchive },
  { method: 'PUT', pattern: '/containers/{id}/archive', handler: putArchive },
  { method: 'GET', pattern: '/containers/{id}/export', handler: exportContainer },
  { method: 'POST', pattern: '/commit', handler: commit },
];
