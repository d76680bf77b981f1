/**
 * The registry client: per-registry state (API base URL found by the /v2/ version check, the authorizer) and
 * `call()`, which every distribution request goes through: it adds the Authorization header for the request's
 * scopes (only toward the registry's own origin), and on 401 takes the new challenge and retries with a fresh
 * or wider token. `createRegistryClient()` returns a containerd-style Resolver over it.
 */
import { KilnError } from '../errors.js';
import { createAuthorizer, type Authorizer } from './auth.js';
import { createFetcher, resolveManifest } from './fetcher.js';
import { allowsPlainHttp, apiHost, isCertificateError, isListedInsecure, isNotTlsError } from './hosts.js';
import { createTransport, type HttpRequest, type HttpResponse, type Transport } from './http.js';
import { createPusher } from './pusher.js';
import { registryError } from './registry-error.js';
import type { RegistryClientOptions, RegistryRef, Resolver } from './types.js';

interface HostState {
  base: string;
  auth: Authorizer;
}

export interface CallRequest extends Omit<HttpRequest, 'url'> {
  /** `/v2/...` path (with query), or an absolute URL (an upload `Location`). */
  path: string;
  scopes: string[];
}

/** What fetcher.ts and pusher.ts need from the client. */
export interface RegistryCaller {
  call(registry: string, req: CallRequest): Promise<HttpResponse>;
  /** Resolves a possibly relative `Location` against the registry's base URL. */
  absolute(registry: string, location: string): Promise<string>;
  readonly transport: Transport;
  readonly opts: RegistryClientOptions;
}

export interface RegistryClient extends Resolver, RegistryCaller {
  /** Runs the API version check and auth challenge for `registry` (as `kiln login` does). */
  ping(registry: string, signal?: AbortSignal): Promise<void>;
  close(): void;
}

/** `repository:NAME:ACTIONS`, the scope a token must carry. */
export function repoScope(repository: string, actions: string): string {
  return `repository:${repository}:${actions}`;
}

/** `registry/repository` for messages. */
export function where(ref: Pick<RegistryRef, 'registry' | 'repository'>): string {
  return `${ref.registry}/${ref.repository}`;
}

export function createRegistryClient(opts: RegistryClientOptions = {}): RegistryClient {
  const insecure = opts.insecureRegistries ?? [];
  const transport = createTransport({ ...opts, insecure: (h) => isListedInsecure(h, insecure) });
  const hosts = new Map<string, Promise<HostState>>();

  /** The API version check: GET /v2/ (a 401 carries the auth challenge). */
  const probe = async (base: string, retry: boolean, signal?: AbortSignal): Promise<HttpResponse> => {
    const res = await transport.request({ method: 'GET', url: `${base}/v2/`, signal, retry });
    res.body.resume();
    return res;
  };

  const connect = async (registry: string, signal?: AbortSignal): Promise<HostState> => {
    const host = apiHost(registry);
    const auth = createAuthorizer({ registry, transport, credentials: opts.credentials });
    const plainOk = allowsPlainHttp(registry, insecure);
    let base = `https://${host}`;
    let res: HttpResponse;
    try {
      res = await probe(base, !plainOk, signal);
    } catch (err) {
      if (err instanceof KilnError) throw err;
      if (isCertificateError(err)) {
        throw new KilnError('REGISTRY_UNAVAILABLE', `${registry}: TLS certificate not trusted (${(err as Error).message})`, {
          hint: 'pass the CA with --tls-ca FILE, or list the registry with --insecure-registry',
          cause: err,
        });
      }
      const code = (err as NodeJS.ErrnoException).code;
      // A reset after retries is a network problem, not proof of plain HTTP, unless plain HTTP may be tried anyway.
      if (!(isNotTlsError(err) && (plainOk || code !== 'ECONNRESET')) && !(plainOk && code === 'ECONNREFUSED')) {
        throw new KilnError('REGISTRY_UNAVAILABLE', `${registry}: cannot connect (${(err as Error).message})`, { cause: err });
      }
      if (!plainOk) {
        throw new KilnError(
          'INSECURE_REGISTRY',
          `${registry}: the registry does not speak TLS, and plain HTTP is allowed only for loopback or insecure registries`,
          { hint: `if you trust the network, pass --insecure-registry ${registry}` },
        );
      }
      base = `http://${host}`;
      try {
        res = await probe(base, true, signal);
      } catch (err2) {
        if (err2 instanceof KilnError) throw err2;
        throw new KilnError('REGISTRY_UNAVAILABLE', `${registry}: cannot connect (${(err2 as Error).message})`, { cause: err2 });
      }
    }
    if (res.status === 401) auth.setChallenge(String(res.headers['www-authenticate'] ?? ''));
    else if (res.status === 404) throw new KilnError('REGISTRY_PROTOCOL', `${registry}: does not implement the registry API v2 (/v2/ answered 404)`);
    else if (res.status !== 200) throw await registryError(res, { where: registry, what: 'API version check' });
    return { base, auth };
  };

  const hostState = (registry: string, signal?: AbortSignal): Promise<HostState> => {
    let p = hosts.get(registry);
    if (!p) {
      p = connect(registry, signal);
      hosts.set(registry, p);
      p.catch(() => hosts.delete(registry));
    }
    return p;
  };

  const call = async (registry: string, req: CallRequest): Promise<HttpResponse> => {
    const host = await hostState(registry, req.signal);
    const url = req.path.startsWith('/') ? host.base + req.path : req.path;
    const sameOrigin = new URL(url).origin === new URL(host.base).origin;
    let scopes = req.scopes;
    const replayable = req.body === undefined || Buffer.isBuffer(req.body);
    for (let attempt = 0; ; attempt++) {
      const authz = sameOrigin ? await host.auth.header(scopes, req.signal) : undefined;
      const headers = { ...req.headers, ...(authz ? { authorization: authz } : {}) };
      let res: HttpResponse;
      try {
        res = await transport.request({ ...req, url, headers });
      } catch (err) {
        if (err instanceof KilnError) throw err;
        const e = err as NodeJS.ErrnoException;
        throw Object.assign(new KilnError('REGISTRY_UNAVAILABLE', `${registry}: ${req.method} failed: ${e.message}`, { cause: err }), {
          transient: true,
          errno: e.code,
        });
      }
      if (res.status === 401 && attempt < 2 && replayable && sameOrigin) {
        const next = host.auth.onUnauthorized(String(res.headers['www-authenticate'] ?? ''), scopes);
        if (next) {
          res.body.resume();
          scopes = next;
          continue;
        }
      }
      return res;
    }
  };

  const absolute = async (registry: string, location: string): Promise<string> => new URL(location, (await hostState(registry)).base).toString();

  const caller: RegistryCaller = { call, absolute, transport, opts };
  return {
    ...caller,
    async ping(registry, signal) {
      const host = await hostState(registry, signal);
      // A challenge means credentials are needed: fetch a token (or send Basic) to prove they work.
      if (host.auth.scheme) {
        const res = await call(registry, { method: 'GET', path: '/v2/', scopes: [], signal });
        if (res.status === 401) {
          res.body.resume();
          const c = await opts.credentials?.(registry);
          throw new KilnError(
            'REGISTRY_UNAUTHORIZED',
            `${registry}: login failed: ${c ? `the registry refused the credentials of ${JSON.stringify(c.username)}` : 'credentials required'}`,
          );
        }
        if (res.status !== 200) throw await registryError(res, { where: registry, what: 'login' });
        res.body.resume();
      }
    },
    resolve: (ref, o) => resolveManifest(caller, ref, o),
    fetcher: (ref) => createFetcher(caller, ref),
    pusher: (ref) => createPusher(caller, ref),
    close: () => transport.close(),
  };
}
