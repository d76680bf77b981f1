/**
 * The route table. Greedy `{name*}` routes with a fixed suffix come before the bare `/images/{name*}` routes so
 * `/images/127.0.0.1:5000/app/push` is a push of `127.0.0.1:5000/app`, not an image called `…/push`.
 */
import type { Handler } from '../context.js';
import type { Route } from '../router.js';
import { ping, version, info, systemDf, buildPrune } from './system.js';
import { postBuild } from './build.js';
import { listImages, inspectImage, tagImage, removeImage, pushImage, createImage, saveImages, loadImages, login, imageHistory, pruneImages } from './images.js';
import { containerRoutes } from './containers.js';
import { execRoutes } from './exec.js';
import { volumeRoutes } from './volumes.js';
import { containerFsRoutes } from './container-fs.js';
import { containerOpsRoutes } from './container-ops.js';
import { eventsRoutes } from './events.js';
import { networkRoutes } from './networks.js';
import { uiRoutes } from './ui.js';
import { historyUiRoutes } from './history-ui.js';
import { historyRoutes } from './history.js';

export const routes: Array<Route<Handler>> = [
  { method: 'GET', pattern: '/_ping', handler: ping },
  { method: 'GET', pattern: '/version', handler: version },
  { method: 'GET', pattern: '/info', handler: info },
  { method: 'POST', pattern: '/auth', handler: login },
  { method: 'GET', pattern: '/system/df', handler: systemDf },
  { method: 'POST', pattern: '/build', handler: postBuild },
  { method: 'POST', pattern: '/build/prune', handler: buildPrune },
  { method: 'GET', pattern: '/images/json', handler: listImages },
  { method: 'POST', pattern: '/images/create', handler: createImage },
  { method: 'POST', pattern: '/images/load', handler: loadImages },
  { method: 'POST', pattern: '/images/prune', handler: pruneImages },
  { method: 'GET', pattern: '/images/get', handler: saveImages },
  { method: 'GET', pattern: '/images/{name*}/json', handler: inspectImage },
  { method: 'GET', pattern: '/images/{name*}/history', handler: imageHistory },
  { method: 'POST', pattern: '/images/{name*}/tag', handler: tagImage },
  { method: 'POST', pattern: '/images/{name*}/push', handler: pushImage },
  { method: 'GET', pattern: '/images/{name*}/get', handler: saveImages },
  { method: 'DELETE', pattern: '/images/{name*}', handler: removeImage },
  ...eventsRoutes,
  // Before the generic container routes: their `/containers/{id}/kill` is a stop, this one a signal.
  ...containerOpsRoutes,
  ...containerRoutes,
  ...execRoutes,
  ...volumeRoutes,
  ...containerFsRoutes,
  ...networkRoutes,
  ...uiRoutes,
  ...historyUiRoutes,
  // kiln's own API, outside Docker's.
  ...historyRoutes,
];

/** The web page and kiln's own `/kiln/v1/` API without the Docker API: what `kiln ui` serves. */
export const pageRoutes: Array<Route<Handler>> = routes.filter((r) => r.pattern === '/ui' || r.pattern.startsWith('/ui/') || r.pattern.startsWith('/kiln/'));
