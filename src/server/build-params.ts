/**
 * The query of `POST /build` as the docker CLI sends it, turned into the builder's options. Parameters kiln
 * honours map onto BuildOptions; resource knobs of the legacy builder (memory, cpu*, shmsize, ulimits, rm,
 * forcerm) are accepted and ignored, since RUN steps get the server's limits; what kiln cannot do (BuildKit
 * sessions, remote contexts, squash, outputs) is refused with NOT_IMPLEMENTED and a hint.
 */
import { KilnError, isKilnError } from '../errors.js';
import type { BuildOptions } from '../builder/types.js';
import { parseCacheExport, parseCacheImport, type CacheExport, type CacheImport } from '../remote-cache/spec.js';
import { parseEntitlements, type Entitlement } from '../builder/entitlements.js';
import type { Query } from './http-util.js';
import { safeParts } from './context-ingest.js';
import { checkImageName } from './image-name.js';

/** What a build request asks for, before the context is unpacked. */
export interface BuildRequest {
  /** Dockerfile path relative to the context root. */
  dockerfile: string;
  tags: string[];
  quiet: boolean;
  /** kiln's own remote CLI asks for the BuildEvents themselves (`kilnevents=1`), to render them like a local build. */
  events: boolean;
  options: Omit<BuildOptions, 'contextDir' | 'signal' | 'onEvent'>;
  /** Notes for the client's stream (ignored parameters, say). */
  warnings: string[];
}

const IGNORED = [
  'rm',
  'forcerm',
  'memory',
  'memswap',
  'cpushares',
  'cpusetcpus',
  'cpusetmems',
  'cpuperiod',
  'cpuquota',
  'shmsize',
  'ulimits',
  'isolation',
  'cgroupparent',
  'session',
  'buildid',
];

/** How a refused step through the server says what to do: ask for it, or have the operator allow it. */
export function serverEntitlementHint(permitted: readonly Entitlement[]): (e: Entitlement) => string {
  return (e) => {
    if (!permitted.includes(e)) return `this server does not grant ${e}; its operator can start it with kiln serve --allow ${e}`;
    return e === 'network.host'
      ? 'if you trust this Dockerfile, ask for it: docker build --network host, or kiln --host … build --allow network.host'
      : `if you trust this Dockerfile, ask for it: kiln --host … build --allow ${e}`;
  };
}

/**
 * Parses and validates the query; throws INVALID_ARGUMENT / INVALID_REFERENCE / UNSAFE_PATH / NOT_IMPLEMENTED,
 * and ENTITLEMENT_DENIED when the request asks for an entitlement the server was not started allowing
 * (`permitted`, from `kiln serve --allow`). A build is granted what it asks for (kiln's `kilnallow`, and
 * `networkmode=host`, which asks for network.host as dockerd's builder takes it) and the server permits.
 */
export function parseBuildQuery(q: Query, permitted: readonly Entitlement[] = []): BuildRequest {
  if (q.str('remote'))
    throw new KilnError('NOT_IMPLEMENTED', 'building from a remote context (git URL or tarball URL) is not supported', {
      hint: 'send the context from the client: docker build <dir>',
    });
  if (q.str('version') === '2')
    throw new KilnError('NOT_IMPLEMENTED', 'the BuildKit session protocol is not supported by kiln serve', {
      hint: 'set DOCKER_BUILDKIT=0 for the docker CLI',
    });
  if (q.bool('squash')) throw new KilnError('NOT_IMPLEMENTED', 'squash is not supported');
  if (q.str('outputs')) throw new KilnError('NOT_IMPLEMENTED', 'outputs are not supported by the Engine API endpoint; the image is stored on the server');

  const dockerfile = q.str('dockerfile') ?? 'Dockerfile';
  const parts = safeParts(dockerfile);
  if (parts.length === 0) throw new KilnError('INVALID_ARGUMENT', 'dockerfile must name a file in the context');

  const tags = q.all('t');
  for (const t of tags) checkImageName(t);

  // Parsed (and a client's type=local refused) here, before the context is read or anything runs.
  const cacheFrom = cacheParam(q, 'cachefrom', parseCacheImport);
  const cacheTo = cacheParam(q, 'kilncacheto', parseCacheExport);

  const net = q.str('networkmode') ?? 'default';
  let networkMode: BuildOptions['networkMode'];
  if (net === 'default' || net === 'bridge') networkMode = 'default';
  else if (net === 'none' || net === 'host') networkMode = net;
  else throw new KilnError('INVALID_ARGUMENT', `networkmode ${JSON.stringify(net)} is not supported (default, bridge, none, host)`);

  const asked = parseEntitlements([q.str('kilnallow') ?? '', ...(networkMode === 'host' ? ['network.host'] : [])], 'kilnallow');
  for (const e of asked) {
    if (!permitted.includes(e)) {
      const what =
        e === 'network.host' && networkMode === 'host' && !(q.str('kilnallow') ?? '').includes(e)
          ? 'networkmode=host (docker build --network host)'
          : `the ${e} entitlement`;
      throw new KilnError('ENTITLEMENT_DENIED', `${what} is not allowed by this server`, {
        hint: `its operator can start it with kiln serve --allow ${e}`,
        details: { entitlement: e },
      });
    }
  }

  const extraHosts = (q.str('extrahosts') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const h of extraHosts) {
    if (!/^[^:\s]+:\S+$/.test(h)) throw new KilnError('INVALID_ARGUMENT', `extrahosts entry ${JSON.stringify(h.slice(0, 80))} is not host:ip`);
  }
  const platform = q.str('platform');
  // Several platforms (`linux/amd64,linux/arm64`, as buildx sends them) build one image index.
  if (platform && !platform.split(',').every((p) => /^[a-z0-9_]+(\/[a-z0-9_]+(\/[a-z0-9_]+)?)?$/i.test(p.trim())))
    throw new KilnError('INVALID_ARGUMENT', `platform ${JSON.stringify(platform.slice(0, 80))} is not os/arch[/variant][,…]`);

  const warnings: string[] = [];
  const ignored = IGNORED.filter((k) => q.str(k) !== undefined && !/^(0|false|)$/.test(q.str(k)!) && k !== 'rm' && k !== 'session' && k !== 'buildid');
  if (ignored.length) warnings.push(`ignored by kiln: ${ignored.join(', ')} (RUN steps get the server's limits)`);

  return {
    dockerfile: parts.join('/'),
    tags,
    quiet: q.bool('q'),
    events: q.bool('kilnevents'),
    warnings,
    options: {
      tags,
      buildArgs: q.stringMap('buildargs'),
      labels: q.stringMap('labels'),
      target: q.str('target'),
      noCache: q.bool('nocache'),
      pull: q.bool('pull'),
      platform,
      networkMode,
      allow: asked,
      entitlementHint: serverEntitlementHint(permitted),
      // As /etc/hosts lines (`IP NAME`), as a local build passes its --add-host values.
      extraHosts: extraHosts.length ? extraHosts.map(hostsLine) : undefined,
      explain: q.bool('kilnexplain'),
      cacheFrom,
      cacheTo,
    },
  };
}

/** `NAME:IP` (docker build --add-host, checked above) as an /etc/hosts line. */
function hostsLine(entry: string): string {
  const i = entry.indexOf(':');
  return `${entry.slice(i + 1)} ${entry.slice(0, i)}`;
}

/**
 * `cachefrom` (Docker's: a JSON array of `--cache-from` values, a bare one an image reference) or `kilncacheto`
 * (kiln's: a JSON array of `--cache-to` values), each parsed as the CLI parses the flag; undefined when empty.
 * A `type=local` cache is refused: a client must not name directories on the server (the operator's own
 * `kiln serve --cache-from/--cache-to` defaults may).
 */
function cacheParam<T extends CacheImport | CacheExport>(q: Query, name: string, parse: (spec: string) => T): T[] | undefined {
  const raw = q.json<unknown>(name) ?? [];
  if (!Array.isArray(raw) || raw.some((c) => typeof c !== 'string'))
    throw new KilnError('INVALID_ARGUMENT', `${name} must be a JSON array of strings`, {
      hint: name === 'cachefrom' ? 'e.g. ["registry.example/app:cache"]' : 'e.g. ["type=registry,ref=registry.example/app:cache,mode=max"]',
    });
  const out: T[] = [];
  for (const spec of (raw as string[]).filter((c) => c.trim() !== '')) {
    let parsed: T;
    try {
      parsed = parse(spec);
    } catch (err) {
      // The parser speaks of the CLI's flag; the request named the parameter.
      if (!isKilnError(err)) throw err;
      throw new KilnError(err.code, err.message.replace(/^--cache-(from|to)\b/, name), { hint: err.hint, cause: err });
    }
    if (parsed.type === 'local')
      throw new KilnError(
        'INVALID_ARGUMENT',
        `${name} ${JSON.stringify(spec.slice(0, 200))}: type=local names a directory on the server, which a build request cannot use`,
        {
          hint: 'use type=registry,ref=REGISTRY/REPOSITORY:TAG (a local cache on the server is for its operator: kiln serve --cache-from/--cache-to)',
        },
      );
    out.push(parsed);
  }
  return out.length ? out : undefined;
}

/** The server's cache defaults (`kiln serve --cache-from/--cache-to`). */
export interface CacheDefaults {
  cacheFrom?: readonly CacheImport[];
  cacheTo?: readonly CacheExport[];
}

/**
 * A build's cache options with the server's defaults filled in: a build's own cachefrom replaces the server's
 * cache-from list, and its own kilncacheto the server's cache-to list; either list alone, the other kept.
 */
export function withCacheDefaults<T extends Pick<BuildOptions, 'cacheFrom' | 'cacheTo'>>(options: T, defaults: CacheDefaults | undefined): T {
  // The server's own caches are reached with the server's logins (its operator chose them); a client's with its own.
  const cacheFrom = options.cacheFrom?.length
    ? options.cacheFrom
    : defaults?.cacheFrom?.length
      ? defaults.cacheFrom.map((c) => ({ ...c, operator: true }))
      : undefined;
  const cacheTo = options.cacheTo?.length ? options.cacheTo : defaults?.cacheTo?.length ? defaults.cacheTo.map((c) => ({ ...c, operator: true })) : undefined;
  return { ...options, cacheFrom, cacheTo };
}
