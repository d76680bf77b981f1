/**
 * The `filters` of `GET /networks` and `POST /networks/prune`, as dockerd's (daemon/network/filter.go): name and
 * id match as unanchored regular expressions, driver and scope exactly, label as key or key=value (all must hold),
 * type custom|builtin, dangling true|false (no running container on it; predefined networks are never dangling).
 */
import { KilnError } from '../errors.js';
import { isPredefined } from '../networks/types.js';
import type { NetworkInspect } from './backend.js';
import { checkFilterKeys, containerPruneFilter, matchLabels, matchRegexp, type Filters } from './filters.js';

export const NETWORK_LIST_FILTERS = ['dangling', 'driver', 'id', 'label', 'name', 'scope', 'type'];

/** 400 for an unknown key or a bad type/dangling value. */
export function checkNetworkListFilters(f: Filters): void {
  checkFilterKeys(f, NETWORK_LIST_FILTERS);
  for (const v of f.get('type') ?? []) if (v !== 'custom' && v !== 'builtin') throw new KilnError('INVALID_ARGUMENT', `invalid filter: 'type'='${v}'`);
  const dangling = f.get('dangling') ?? [];
  if (dangling.length > 1) throw new KilnError('INVALID_ARGUMENT', `got more than one value for filter key "dangling"`);
  for (const v of dangling)
    if (!['true', 'false', '1', '0'].includes(v.toLowerCase())) throw new KilnError('INVALID_ARGUMENT', `invalid filter 'dangling=${v}'`);
}

export function matchNetwork(f: Filters, n: NetworkInspect): boolean {
  if (!matchRegexp(f, 'name', n.Name)) return false;
  if (!matchRegexp(f, 'id', n.Id)) return false;
  if (!matchLabels(f, 'label', n.Labels)) return false;
  const exact = (key: string, v: string) => !f.get(key)?.length || f.get(key)!.includes(v);
  if (!exact('driver', n.Driver) || !exact('scope', n.Scope)) return false;
  const types = f.get('type');
  if (types?.length && !types.includes(isPredefined(n.Name) ? 'builtin' : 'custom')) return false;
  const dangling = f.get('dangling')?.[0]?.toLowerCase();
  if (dangling !== undefined) {
    const isDangling = !isPredefined(n.Name) && Object.keys(n.Containers).length === 0;
    if (isDangling !== (dangling === 'true' || dangling === '1')) return false;
  }
  return true;
}

/** Prune's filters (until, label, label!) as the containers' prune takes them. */
export function networkPruneFilter(f: Filters, now = Date.now()): (n: { created: string; labels?: Record<string, string> }) => boolean {
  return containerPruneFilter(f, now);
}
