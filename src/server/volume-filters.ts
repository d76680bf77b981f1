/**
 * The `filters` of `GET /volumes` and `POST /volumes/prune` (and `kiln volume ls|prune --filter`), as dockerd's
 * (moby volume/service: list accepts dangling, driver, label, name; prune accepts label, label! and all). Checked
 * up front: an unknown key or a malformed value is a 400 before anything is listed or removed.
 */
import { KilnError } from '../errors.js';
import { checkFilterKeys, matchLabels, matchRegexp, type Filters } from './filters.js';

/** What a volume filter looks at. */
export interface VolumeFacts {
  name: string;
  driver: string;
  labels: Record<string, string>;
  anonymous: boolean;
  /** Containers (running or not) that use it. */
  inUse: boolean;
}

export const VOLUME_LIST_FILTERS = ['dangling', 'driver', 'label', 'name'];
export const VOLUME_PRUNE_FILTERS = ['label', 'label!', 'all'];

/** `true`/`1` or `false`/`0`; one value only (dockerd's filters.GetBoolOrDefault). */
function boolFilter(f: Filters, key: string): boolean | undefined {
  const values = f.get(key);
  if (!values?.length) return undefined;
  const set = new Set(values.map((v) => v.toLowerCase()));
  const truthy = set.has('true') || set.has('1');
  const falsy = set.has('false') || set.has('0');
  const bad = [...set].find((v) => !['true', '1', 'false', '0'].includes(v));
  if (bad !== undefined) throw new KilnError('INVALID_ARGUMENT', `invalid filter '${key}=${bad}'`);
  if (truthy && falsy) throw new KilnError('INVALID_ARGUMENT', `invalid filter '${key}': both true and false`);
  return truthy;
}

/** Checks list filters (400s) and returns the predicate. */
export function volumeListFilter(f: Filters): (v: VolumeFacts) => boolean {
  checkFilterKeys(f, VOLUME_LIST_FILTERS);
  const dangling = boolFilter(f, 'dangling');
  return (v) => {
    if (dangling !== undefined && dangling === v.inUse) return false;
    if (!matchRegexp(f, 'name', v.name)) return false;
    if (!matchRegexp(f, 'driver', v.driver)) return false;
    return matchLabels(f, 'label', v.labels);
  };
}

/**
 * Checks prune filters (400s) and returns the predicate over unused volumes. `onlyAnonymous`: API 1.42 and later
 * prune anonymous volumes only unless the `all` filter is true; older API versions prune every unused volume.
 */
export function volumePruneFilter(f: Filters, opts: { onlyAnonymous: boolean }): (v: VolumeFacts) => boolean {
  checkFilterKeys(f, VOLUME_PRUNE_FILTERS);
  const all = boolFilter(f, 'all') ?? !opts.onlyAnonymous;
  return (v) => {
    if (v.inUse) return false;
    if (!all && !v.anonymous) return false;
    if (!matchLabels(f, 'label', v.labels)) return false;
    // `label!`: kept when all its values hold (dockerd's MatchKVList on label!).
    if (f.get('label!')?.length && matchLabels(f, 'label!', v.labels)) return false;
    return true;
  };
}
