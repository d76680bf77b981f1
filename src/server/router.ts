/**
 * Request routing for the Docker Engine API. The docker CLI prefixes every path with the negotiated API version
 * (`/v1.45/images/json`) but `_ping` may come bare, so the prefix is optional. Image names arrive unescaped and
 * may hold slashes and colons (`/images/127.0.0.1:5000/team/app:1/push`), so a route's `{name}` parameter is
 * matched greedily against whatever sits between its fixed prefix and suffix.
 */

/** The API version kiln speaks (Docker 26's); the docker CLI negotiates down to it. */
export const API_VERSION = '1.45';
/** The oldest API version kiln answers, as dockerd does. */
export const MIN_API_VERSION = '1.24';

export type Params = Record<string, string>;

export interface Route<H> {
  method: string;
  /** `/images/{name*}/push`: `{x}` is one path segment, `{x*}` one or more segments (greedy, for image names). */
  pattern: string;
  handler: H;
}

interface Compiled<H> extends Route<H> {
  re: RegExp;
  keys: string[];
  /** Has a `{x*}` parameter: it matches almost any path, so it says nothing about which methods a path allows. */
  greedy: boolean;
}

export interface Match<H> {
  handler: H;
  params: Params;
  /** The API version from the path prefix, if any. */
  version?: string;
}

const VERSION_PREFIX = /^\/v(\d+\.\d+)(?=\/)/;

/** Splits `/v1.45/images/json` into `{ version: '1.45', path: '/images/json' }`. */
export function stripVersion(path: string): { version?: string; path: string } {
  const m = VERSION_PREFIX.exec(path);
  return m ? { version: m[1], path: path.slice(m[0].length) } : { path };
}

function compile<H>(route: Route<H>): Compiled<H> {
  const keys: string[] = [];
  const src = route.pattern.replace(/[.+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)(\*?)\}/g, (_m, key: string, star: string) => {
    keys.push(key);
    return star ? '(.+)' : '([^/]+)';
  });
  return { ...route, re: new RegExp(`^${src}/?$`), keys, greedy: route.pattern.includes('*}') };
}

/**
 * A first-match router. Greedy `{name*}` parameters are tried in registration order, so register the routes with
 * the longest fixed suffix first (`/images/{name*}/json` before `/images/{name*}`).
 */
export function createRouter<H>(routes: Array<Route<H>>) {
  const compiled = routes.map(compile);
  return {
    /** `undefined` with `allowed` listing the methods that would have matched the path (for 405), or a match. */
    match(method: string, rawPath: string): Match<H> | { handler?: undefined; allowed: string[] } {
      const { version, path } = stripVersion(rawPath);
      const allowed: string[] = [];
      for (const r of compiled) {
        const m = r.re.exec(path);
        if (!m) continue;
        if (r.method !== method && !(method === 'HEAD' && r.method === 'GET')) {
          if (!r.greedy) allowed.push(r.method);
          continue;
        }
        const params: Params = {};
        r.keys.forEach((k, i) => (params[k] = decodePathPart(m[i + 1])));
        return { handler: r.handler, params, version };
      }
      return { allowed };
    },
  };
}

/** Percent-decodes one path part; an invalid escape is kept as written (the name validator rejects it later). */
function decodePathPart(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
