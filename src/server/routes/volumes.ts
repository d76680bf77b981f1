/**
 * Volume endpoints, as dockerd's: list, create, inspect, remove, prune. A volume's bind device (`DriverOpts`
 * `type=none,o=bind,device=…`) is a host path a client names, so it passes the same confinement as a `-v` bind
 * source (the server's --allow-bind roots) before the volume exists.
 */
import { KilnError } from '../../errors.js';
import type { Handler, ServerState } from '../context.js';
import type { Route } from '../router.js';
import { stripVersion } from '../router.js';
import type { VolumeBackend, VolumeCreate, VolumeInspect } from '../backend.js';
import { readJsonBody, sendJson } from '../http-util.js';
import { parseFilters } from '../filters.js';
import { confineHostPath, type MountVolume } from '../host-config.js';
import { ANONYMOUS_LABEL } from '../volume-backend.js';
import { parseDriverOpts } from '../../containers/volume-opts.js';

function volumes(state: ServerState): VolumeBackend {
  if (!state.backend.volumes) throw new KilnError('NOT_IMPLEMENTED', 'volumes are not available on this server');
  return state.backend.volumes;
}

/**
 * Creates a volume on a client's behalf (POST /volumes/create, and `--mount type=volume` with volume options):
 * driver options are checked, and a bind device is confined to the allowed roots and replaced by its real path.
 */
export async function createVolumeChecked(state: ServerState, spec: VolumeCreate): Promise<VolumeInspect> {
  const opts = spec.DriverOpts && typeof spec.DriverOpts === 'object' ? { ...spec.DriverOpts } : spec.DriverOpts;
  const backing = parseDriverOpts(opts);
  if (backing.kind === 'bind' && opts) opts.device = await confineHostPath(backing.device, state.bindRoots);
  return volumes(state).create({ ...spec, DriverOpts: opts });
}

/** A volume `--mount` asks for, as a create body (anonymous ones carry dockerd's anonymous label). */
export function volumeCreateOf(v: MountVolume): VolumeCreate {
  return { Name: v.name, Labels: { ...(v.labels ?? {}), ...(v.anonymous ? { [ANONYMOUS_LABEL]: '' } : {}) }, DriverOpts: v.driverOpts ?? null };
}

/** API 1.42 changed prune: only anonymous volumes unless `all`. A path without a version is the current API. */
function pruneOnlyAnonymous(url: string | undefined): boolean {
  const version = stripVersion((url ?? '/').split('?')[0]!).version;
  if (!version) return true;
  const [major, minor] = version.split('.').map(Number) as [number, number];
  return major > 1 || minor >= 42;
}

const list: Handler = async ({ res, state, query }) => {
  const filters = parseFilters(query.str('filters'));
  sendJson(res, 200, { Volumes: await volumes(state).list({ filters }), Warnings: null });
};

const create: Handler = async ({ req, res, state }) => {
  const spec = (await readJsonBody<VolumeCreate>(req, state.limits.maxJsonBytes)) ?? {};
  if (typeof spec !== 'object' || Array.isArray(spec)) throw new KilnError('INVALID_ARGUMENT', 'a JSON volume config is required');
  sendJson(res, 201, await createVolumeChecked(state, spec));
};

const inspect: Handler = async ({ res, state, params }) => {
  sendJson(res, 200, await volumes(state).inspect(params.name!));
};

const remove: Handler = async ({ res, state, params, query }) => {
  await volumes(state).remove(params.name!, { force: query.bool('force') });
  res.writeHead(204).end();
};

const prune: Handler = async ({ req, res, state, query }) => {
  const filters = parseFilters(query.str('filters'));
  sendJson(res, 200, await volumes(state).prune({ filters, onlyAnonymous: pruneOnlyAnonymous(req.url) }));
};

export const volumeRoutes: Array<Route<Handler>> = [
  { method: 'GET', pattern: '/volumes', handler: list },
  { method: 'POST', pattern: '/volumes/create', handler: create },
  { method: 'POST', pattern: '/volumes/prune', handler: prune },
  { method: 'GET', pattern: '/volumes/{name}', handler: inspect },
  { method: 'DELETE', pattern: '/volumes/{name}', handler: remove },
];
