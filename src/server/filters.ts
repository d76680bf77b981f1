/**
 * The `filters` query parameter of Docker's list and prune endpoints: a JSON map of arrays
 * (`{"label":["app=x"],"status":["exited"]}`), or the older map of sets (`{"label":{"app=x":true}}`) that
 * docker-compose 1.x and docker-py send. Semantics as dockerd's (moby api/types/filters and daemon/list.go,
 * daemon/containerd prune): values of one key are alternatives (any may match) except `label`, whose values must
 * all hold; keys combine with AND.
 */
import { KilnError } from '../errors.js';

export type Filters = Map<string, string[]>;

/** Parses the raw `filters` value; empty or absent is no filter. A malformed value is a 400. */
export function parseFilters(raw: string | undefined): Filters {
  const out: Filters = new Map();
  if (raw === undefined || raw.trim() === '') return out;
  let doc: unknown;
  try {
    doc = JSON.parse(raw);
  } catch {
    throw new KilnError('INVALID_ARGUMENT', `invalid filters: ${JSON.stringify(raw)} is not JSON`);
  }
  if (doc === null) return out;
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new KilnError('INVALID_ARGUMENT', 'invalid filters: expected a JSON object');
  for (const [key, v] of Object.entries(doc as Record<string, unknown>)) {
    let values: string[];
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) values = v as string[];
    else if (v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'boolean')) values = Object.keys(v);
    else throw new KilnError('INVALID_ARGUMENT', `invalid filters: the values of ${JSON.stringify(key)} must be an array of strings`);
    out.set(key, [...new Set([...(out.get(key) ?? []), ...values])]);
  }
  return out;
}

/** Refuses a key the endpoint does not define, with dockerd's message. */
export function checkFilterKeys(f: Filters, accepted: readonly string[]): void {
  for (const key of f.keys()) if (!accepted.includes(key)) throw new KilnError('INVALID_ARGUMENT', `invalid filter '${key}'`);
}

/** dockerd's `Match`: true without the key; else any value, as an unanchored regular expression, matches a source. */
export function matchRegexp(f: Filters, key: string, ...sources: string[]): boolean {
  const values = f.get(key);
  if (!values?.length) return true;
  return values.some((v) => {
    let re: RegExp;
    try {
      re = new RegExp(v);
    } catch {
      return false; // as dockerd: a value that is not a regular expression matches nothing
    }
    return sources.some((s) => re.test(s));
  });
}

/** dockerd's `MatchKVList`: true without the key; else every value (`key` or `key=value`) holds for the labels. */
export function matchLabels(f: Filters, key: string, labels: Record<string, string> | undefined): boolean {
  const values = f.get(key);
  if (!values?.length) return true;
  const l = labels ?? {};
  return values.every((v) => {
    const i = v.indexOf('=');
    const k = i < 0 ? v : v.slice(0, i);
    if (!Object.prototype.hasOwnProperty.call(l, k)) return false;
    return i < 0 || l[k] === v.slice(i + 1);
  });
}

/** The container states dockerd knows (kiln's containers are only ever created, running or exited). */
export const CONTAINER_STATES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'] as const;

/** What `GET /containers/json` filters on, per container. */
export interface ContainerFacts {
  id: string;
  name: string;
  status: string;
  exitCode?: number;
  labels?: Record<string, string>;
  imageId: string;
  /** Creation time (ms), for `before` and `since`. */
  created?: number;
  /** The networks it is on: names and ids. */
  networks?: string[];
  /** Its volumes' names and every mount's destination. */
  volumes?: string[];
  /** `starting`, `healthy`, `unhealthy`, or `none` without a health check. */
  health?: string;
  /** Container ports with a host binding (`publish`), and those plus the image's EXPOSE (`expose`). */
  published?: PortFact[];
  exposed?: PortFact[];
}

export interface PortFact {
  port: number;
  proto: string;
}

/** The filters `GET /containers/json` accepts (dockerd's list), and those kiln can apply. */
export const LIST_FILTERS = [
  'ancestor',
  'before',
  'expose',
  'exited',
  'health',
  'id',
  'isolation',
  'is-task',
  'label',
  'name',
  'network',
  'publish',
  'since',
  'status',
  'volume',
];
const HEALTH_VALUES = ['starting', 'healthy', 'unhealthy', 'none'];
const ISOLATION_VALUES = ['default', 'process', 'hyperv'];

/** `80`, `80/udp`, `8000-8080/tcp` (dockerd's publish/expose filter values; tcp when no protocol). */
export function parsePortFilter(v: string): { from: number; to: number; proto: string } {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?(?:\/(tcp|udp|sctp))?$/.exec(v.trim());
  const from = m ? Number(m[1]) : NaN;
  const to = m?.[2] ? Number(m[2]) : from;
  if (!m || from < 1 || to > 65535 || to < from)
    throw new KilnError('INVALID_ARGUMENT', `invalid filter value ${JSON.stringify(v)}: a port, port/proto or range expected`);
  return { from, to, proto: m[3] ?? 'tcp' };
}

function matchPorts(f: Filters, key: string, ports: PortFact[] | undefined): boolean {
  const values = f.get(key);
  if (!values?.length) return true;
  return values.some((v) => {
    const want = parsePortFilter(v);
    return (ports ?? []).some((p) => p.proto === want.proto && p.port >= want.from && p.port <= want.to);
  });
}

/**
 * Checks list filters up front (400s before any work): unknown keys and malformed values as dockerd (status,
 * exited, health, isolation, is-task, publish and expose values). Returns whether the filter asks for stopped containers too (`status` does, as dockerd).
 */
export function checkContainerListFilters(f: Filters): { impliesAll: boolean } {
  checkFilterKeys(f, LIST_FILTERS);
  for (const v of f.get('health') ?? []) {
    if (!HEALTH_VALUES.includes(v)) throw new KilnError('INVALID_ARGUMENT', `invalid filter 'health=${v}': ${HEALTH_VALUES.join(', ')} expected`);
  }
  for (const v of f.get('isolation') ?? []) {
    if (!ISOLATION_VALUES.includes(v)) throw new KilnError('INVALID_ARGUMENT', `invalid filter 'isolation=${v}'`);
  }
  for (const v of f.get('is-task') ?? []) {
    if (v !== 'true' && v !== 'false') throw new KilnError('INVALID_ARGUMENT', `invalid filter 'is-task=${v}': true or false expected`);
  }
  for (const key of ['publish', 'expose']) for (const v of f.get(key) ?? []) parsePortFilter(v);
  for (const v of f.get('status') ?? []) {
    if (!(CONTAINER_STATES as readonly string[]).includes(v)) throw new KilnError('INVALID_ARGUMENT', `invalid filter 'status=${v}'`);
  }
  for (const v of f.get('exited') ?? []) {
    if (!/^-?\d+$/.test(v.trim())) throw new KilnError('INVALID_ARGUMENT', `invalid filter 'exited=${v}'`);
  }
  return { impliesAll: f.has('status') };
}

/**
 * Whether a container passes the list filters. `ancestorIds`: the image IDs the `ancestor` values name (those that
 * exist); with an `ancestor` filter and none of them existing, nothing matches, as dockerd. `window`: the creation
 * times of the containers `before` and `since` name (strictly before / after them, as dockerd).
 */
export function matchContainer(f: Filters, c: ContainerFacts, ancestorIds?: ReadonlySet<string>, window?: { before?: number; since?: number }): boolean {
  if (!matchRegexp(f, 'name', `/${c.name}`, c.name)) return false;
  if (!matchRegexp(f, 'id', c.id)) return false;
  if (!matchLabels(f, 'label', c.labels)) return false;
  const exited = f.get('exited');
  if (exited?.length && !(c.status !== 'running' && exited.some((v) => Number(v) === (c.exitCode ?? 0)))) return false;
  const status = f.get('status');
  if (status?.length && !status.includes(c.status)) return false;
  if (f.has('ancestor') && !ancestorIds?.has(c.imageId)) return false;
  const network = f.get('network');
  if (network?.length && !network.some((v) => (c.networks ?? []).includes(v))) return false;
  const volume = f.get('volume');
  if (volume?.length && !volume.some((v) => (c.volumes ?? []).includes(v))) return false;
  const health = f.get('health');
  if (health?.length && !health.includes(c.health ?? 'none')) return false;
  if (!matchPorts(f, 'publish', c.published) || !matchPorts(f, 'expose', c.exposed)) return false;
  // Swarm tasks and Windows isolation: a kiln container is never a task, and its isolation is the default.
  if (f.get('is-task')?.length && !f.get('is-task')!.includes('false')) return false;
  if (f.get('isolation')?.length && !f.get('isolation')!.includes('default')) return false;
  if (window?.before !== undefined && !((c.created ?? 0) < window.before)) return false;
  if (window?.since !== undefined && !((c.created ?? 0) > window.since)) return false;
  return true;
}

/** The filters `POST /containers/prune` accepts, as dockerd's. */
export const CONTAINER_PRUNE_FILTERS = ['label', 'label!', 'until'];

const DURATION_UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A Docker timestamp (`until=`): a Go duration before `now` (`24h`, `1h30m`), Unix seconds (`1700000000.5`) or a
 * date/time (`2006-01-02`, RFC 3339). Milliseconds since the epoch; undefined when it is none of these.
 */
export function parseTimestamp(v: string, now = Date.now()): number | undefined {
  const s = v.trim();
  if (/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(s)) {
    let ms = 0;
    for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * DURATION_UNIT_MS[m[2]!]!;
    return now - ms;
  }
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  if (!/^\d{4}-\d{2}-\d{2}/.test(s)) return undefined;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : t;
}

/** Checks prune filters (400s) and returns the predicate: label and label! as dockerd, until on the creation time. */
export function containerPruneFilter(f: Filters, now = Date.now()): (c: { created: string; labels?: Record<string, string> }) => boolean {
  checkFilterKeys(f, CONTAINER_PRUNE_FILTERS);
  const untilValues = f.get('until') ?? [];
  if (untilValues.length > 1) throw new KilnError('INVALID_ARGUMENT', 'more than one until filter specified');
  let until: number | undefined;
  if (untilValues.length === 1) {
    until = parseTimestamp(untilValues[0]!, now);
    if (until === undefined) throw new KilnError('INVALID_ARGUMENT', `invalid filter 'until=${untilValues[0]}'`);
  }
  return (c) => {
    if (until !== undefined && Date.parse(c.created) > until) return false;
    if (!matchLabels(f, 'label', c.labels)) return false;
    // `label!`: kept when all its values hold (dockerd's MatchKVList on label!).
    if (f.get('label!')?.length && matchLabels(f, 'label!', c.labels)) return false;
    return true;
  };
}

/** The filters `POST /images/prune` accepts, as dockerd's. */
export const IMAGE_PRUNE_FILTERS = ['dangling', 'label', 'label!', 'until'];

/**
 * Checks image prune filters (400s): `dangling` true (the default: untagged images only) or false (`-a`: every image
 * no container uses), `until`, `label`, `label!`. Returns whether all unused images go, and the predicate.
 */
export function imagePruneFilter(f: Filters, now = Date.now()): { all: boolean; keep: (i: { created: string; labels?: Record<string, string> }) => boolean } {
  checkFilterKeys(f, IMAGE_PRUNE_FILTERS);
  const dangling = f.get('dangling') ?? [];
  for (const d of dangling) if (!/^(1|0|true|false)$/i.test(d)) throw new KilnError('INVALID_ARGUMENT', `invalid filter 'dangling=${d}'`);
  const all = dangling.some((d) => /^(0|false)$/i.test(d));
  const byTimeAndLabel = containerPruneFilter(new Map([...f].filter(([k]) => k !== 'dangling')), now);
  return { all, keep: byTimeAndLabel };
}

/** The filters `GET /images/json` accepts, as dockerd's. */
export const IMAGE_LIST_FILTERS = ['before', 'dangling', 'label', 'reference', 'since', 'until'];
