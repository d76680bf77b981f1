/**
 * `GET /events` (`docker events`): the daemon's event log as newline-delimited JSON. With `since` (or `until`)
 * the stored events of that window come first; then new events as they are written, until `until` passes or the
 * client goes. Filters as dockerd's (daemon/events/filter.go): `event`, `type` and `scope` match exactly,
 * `container`, `network`, `volume` and `daemon` match an actor's ID or name by prefix, `image` a container's image
 * or an image's name (with or without its tag), `label` the actor's attributes.
 */
import { KilnError } from '../../errors.js';
import type { Handler } from '../context.js';
import type { Route } from '../router.js';
import type { EventMessage } from '../backend.js';
import { checkFilterKeys, matchLabels, parseFilters, type Filters } from '../filters.js';

export const EVENT_FILTERS = ['container', 'daemon', 'event', 'image', 'label', 'network', 'scope', 'type', 'volume'];

/** `since`/`until` as nanoseconds since the epoch: Unix seconds with an optional fraction (what the docker CLI sends). */
export function parseEventTime(name: string, v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const m = /^(\d{1,12})(?:\.(\d{1,9}))?$/.exec(v);
  if (!m) {
    throw new KilnError('INVALID_ARGUMENT', `${name}=${JSON.stringify(v.slice(0, 40))}: Unix seconds expected (such as 1700000000.5)`, {
      hint: 'the docker CLI converts durations and dates to Unix seconds itself',
    });
  }
  return Number(m[1]) * 1e9 + Number((m[2] ?? '').padEnd(9, '0'));
}

const exact = (f: Filters, key: string, ...sources: string[]) => !f.get(key)?.length || f.get(key)!.some((v) => sources.includes(v));
const fuzzy = (f: Filters, key: string, ...sources: string[]) => !f.get(key)?.length || f.get(key)!.some((v) => sources.some((s) => s.startsWith(v)));
const stripTag = (ref: string) => ref.replace(/@.*$/, '').replace(/:[^:/]*$/, '');

/** dockerd's event filter: every key must hold; see the file's comment for how each matches. */
export function eventMatches(f: Filters, ev: EventMessage): boolean {
  const attrs = ev.Actor.Attributes ?? {};
  const name = attrs.name ?? '';
  // health_status, exec_create and exec_start carry a `: …` suffix; naming them bare matches by prefix, as dockerd.
  const bareSuffixed = (f.get('event') ?? []).some((v) => ['health_status', 'exec_create', 'exec_start'].includes(v));
  if (!(bareSuffixed ? fuzzy(f, 'event', ev.Action) : exact(f, 'event', ev.Action))) return false;
  if (!exact(f, 'type', ev.Type) || !exact(f, 'scope', ev.scope)) return false;
  for (const key of ['daemon', 'container', 'volume', 'network']) if (!fuzzy(f, key, ev.Actor.ID, name)) return false;
  const imageName = (ev.Type === 'image' ? attrs.name : attrs.image) ?? '';
  if (!exact(f, 'image', ev.Actor.ID, imageName, stripTag(ev.Actor.ID), stripTag(imageName))) return false;
  return matchLabels(f, 'label', attrs);
}

const eventsRoute: Handler = async ({ res, state, query, signal }) => {
  const log = state.backend.events;
  if (!log) throw new KilnError('NOT_IMPLEMENTED', 'events are not available on this server');
  const filters = parseFilters(query.str('filters'));
  checkFilterKeys(filters, EVENT_FILTERS);
  const sinceNano = parseEventTime('since', query.str('since'));
  const untilNano = parseEventTime('until', query.str('until'));
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.flushHeaders();
  const send = (e: EventMessage) => {
    if (eventMatches(filters, e) && !res.destroyed) res.write(JSON.stringify(e) + '\n');
  };
  // Follow first, holding what comes, so nothing written while the history is read is lost or sent twice.
  const stop = new AbortController();
  const onClient = () => stop.abort();
  signal.addEventListener('abort', onClient, { once: true });
  let held: EventMessage[] | undefined = [];
  const past = untilNano !== undefined && untilNano <= Date.now() * 1e6;
  const following = past
    ? Promise.resolve()
    : log.follow(
        (e) => {
          if (untilNano !== undefined && e.timeNano > untilNano) return stop.abort();
          if (held) held.push(e);
          else send(e);
        },
        { signal: stop.signal },
      );
  let timer: NodeJS.Timeout | undefined;
  try {
    const seen = new Set<string>();
    const key = (e: EventMessage) => `${e.timeNano}|${e.Type}|${e.Action}|${e.Actor.ID}`;
    if (sinceNano !== undefined || untilNano !== undefined) {
      for (const e of await log.read({ sinceNano, untilNano })) {
        seen.add(key(e));
        send(e);
      }
    }
    for (const e of held ?? []) if (!seen.has(key(e))) send(e);
    held = undefined;
    if (untilNano !== undefined && !past) timer = setTimeout(() => stop.abort(), Math.max(0, untilNano / 1e6 - Date.now()));
    await following;
  } finally {
    clearTimeout(timer);
    stop.abort();
    signal.removeEventListener('abort', onClient);
  }
  res.end();
};

export const eventsRoutes: Array<Route<Handler>> = [{ method: 'GET', pattern: '/events', handler: eventsRoute }];
