/**
 * Registry authentication: the `WWW-Authenticate` challenge, then anonymous, Basic, or the Bearer token flow
 * (GET realm?service=…&scope=…, answered with `token` or `access_token`; with an identity token, the OAuth2
 * form POST `grant_type=refresh_token` of the distribution spec, keeping a rotated refresh token for later). Tokens are cached per scope set and
 * refreshed when they expire or when the registry answers 401 asking for a wider scope. Concurrent requests
 * for the same token share one round trip. Credentials and tokens never leave this module except in the
 * `Authorization` header of requests to the registry's origin or the token realm.
 */
import { KilnError } from '../errors.js';
import { readBody, type Transport } from './http.js';
import type { CredentialLookup, Credentials } from './types.js';

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses a `WWW-Authenticate` value into challenges (several may share one header). */
export function parseChallenges(header: string | undefined): Challenge[] {
  const out: Challenge[] = [];
  if (!header) return out;
  const re = /\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*)))?\s*,?/gy;
  let m: RegExpExecArray | null;
  let current: Challenge | undefined;
  while (re.lastIndex < header.length && (m = re.exec(header))) {
    if (m[0] === '') break;
    const [, name, quoted, bare] = m;
    if (quoted === undefined && bare === undefined) {
      current = { scheme: name!.toLowerCase(), params: {} };
      out.push(current);
    } else if (current) {
      current.params[name!.toLowerCase()] = quoted !== undefined ? quoted.replace(/\\(.)/g, '$1') : bare!;
    }
  }
  return out;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

export interface Authorizer {
  /** Records the registry's challenge (from the /v2/ ping or a 401). */
  setChallenge(header: string | undefined): void;
  /** The Authorization header for a request needing `scopes`, or undefined for anonymous access. */
  header(scopes: string[], signal?: AbortSignal): Promise<string | undefined>;
  /**
   * After a 401: takes the new challenge, drops the cached token for `scopes` and widens them with the scope the
   * registry asked for. Returns the scopes to retry with, or undefined when a retry cannot help.
   */
  onUnauthorized(header: string | undefined, scopes: string[]): string[] | undefined;
  readonly scheme: string | undefined;
}

export interface AuthorizerOptions {
  /** The registry as the user names it (`docker.io`, `127.0.0.1:5000`), for credential lookup and messages. */
  registry: string;
  transport: Transport;
  credentials?: CredentialLookup;
}

const basic = (c: Credentials): string => `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;

export function createAuthorizer(opts: AuthorizerOptions): Authorizer {
  let challenge: Challenge | undefined;
  const tokens = new Map<string, CachedToken>();
  const inflight = new Map<string, Promise<string>>();
  let creds: Promise<Credentials | undefined> | undefined;
  const credentials = (): Promise<Credentials | undefined> => (creds ??= opts.credentials?.(opts.registry) ?? Promise.resolve(undefined));

  const fetchToken = async (scopes: string[], signal?: AbortSignal): Promise<string> => {
    const realm = challenge!.params.realm;
    if (!realm) throw new KilnError('REGISTRY_PROTOCOL', `${opts.registry}: Bearer challenge without a realm`);
    const url = new URL(realm);
    if (challenge!.params.service) url.searchParams.set('service', challenge!.params.service);
    for (const s of scopes) url.searchParams.append('scope', s);
    const c = await credentials();
    const refresh = c?.identityToken;
    let res;
    if (refresh) {
      // OAuth2 (distribution's token spec): the identity token is a refresh token, never a Basic password.
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh, client_id: 'kiln' });
      if (challenge!.params.service) form.set('service', challenge!.params.service);
      if (scopes.length) form.set('scope', scopes.join(' '));
      const postUrl = new URL(realm);
      res = await opts.transport.request({
        method: 'POST',
        url: postUrl.toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: Buffer.from(form.toString()),
        signal,
      });
    } else {
      if (c) url.searchParams.set('account', c.username);
      res = await opts.transport.request({ method: 'GET', url: url.toString(), headers: c ? { authorization: basic(c) } : {}, signal });
    }
    const body = await readBody(res, 1024 * 1024);
    if (res.status === 401 || res.status === 403) {
      throw new KilnError(
        'REGISTRY_UNAUTHORIZED',
        `${opts.registry}: the token server at ${url.host} refused ${c ? 'the credentials' : 'anonymous access'} for ${scopes.join(' ') || 'the registry'}`,
        {
          hint: refresh
            ? `the identity token was refused: log in again (docker login ${opts.registry})`
            : c
              ? `check the login with: kiln login ${opts.registry}`
              : `log in with: kiln login ${opts.registry}`,
        },
      );
    }
    if (res.status !== 200 || !body) throw new KilnError('REGISTRY_PROTOCOL', `${opts.registry}: token server at ${url.host} answered ${res.status}`);
    let parsed: { token?: string; access_token?: string; expires_in?: number; issued_at?: string; refresh_token?: string };
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new KilnError('REGISTRY_PROTOCOL', `${opts.registry}: token server at ${url.host} sent invalid JSON`);
    }
    const token = parsed.token || parsed.access_token;
    if (!token) throw new KilnError('REGISTRY_PROTOCOL', `${opts.registry}: token server at ${url.host} sent no token`);
    // A server that rotates refresh tokens sends the next one; the old one may no longer work.
    if (refresh && typeof parsed.refresh_token === 'string' && parsed.refresh_token) creds = Promise.resolve({ ...c!, identityToken: parsed.refresh_token });
    // The spec's default lifetime is 60 s; refresh a little early so a token does not lapse in flight.
    const lifetime = (typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : 60) * 1000;
    const issued = parsed.issued_at ? Date.parse(parsed.issued_at) : NaN;
    const start = Number.isFinite(issued) && Math.abs(issued - Date.now()) < 5 * 60_000 ? issued : Date.now();
    tokens.set(key(scopes), { token, expiresAt: start + lifetime - Math.min(5000, lifetime / 10) });
    return token;
  };

  const key = (scopes: string[]): string => [...new Set(scopes)].sort().join(' ');

  return {
    get scheme() {
      return challenge?.scheme;
    },
    setChallenge(header) {
      const all = parseChallenges(header);
      challenge = all.find((c) => c.scheme === 'bearer') ?? all.find((c) => c.scheme === 'basic') ?? challenge;
    },
    async header(scopes, signal) {
      if (!challenge) return undefined;
      if (challenge.scheme === 'basic') {
        const c = await credentials();
        if (c?.identityToken) {
          throw new KilnError(
            'REGISTRY_UNAUTHORIZED',
            `${opts.registry}: the saved login is an identity token, which only a token server accepts, and this registry asks for Basic credentials`,
            { hint: `log in with a password: kiln login ${opts.registry}` },
          );
        }
        return c ? basic(c) : undefined;
      }
      if (challenge.scheme !== 'bearer') return undefined;
      const k = key(scopes);
      const cached = tokens.get(k);
      if (cached && cached.expiresAt > Date.now()) return `Bearer ${cached.token}`;
      let p = inflight.get(k);
      if (!p) {
        p = fetchToken([...new Set(scopes)].sort(), signal).finally(() => inflight.delete(k));
        inflight.set(k, p);
      }
      return `Bearer ${await p}`;
    },
    onUnauthorized(header, scopes) {
      const before = challenge;
      this.setChallenge(header);
      if (!challenge) return undefined;
      if (challenge.scheme === 'basic') return before?.scheme === 'basic' ? undefined : scopes;
      const k = key(scopes);
      const hadToken = tokens.has(k);
      tokens.delete(k);
      const asked = (parseChallenges(header).find((c) => c.scheme === 'bearer')?.params.scope ?? '').split(' ').filter(Boolean);
      const widened = [...new Set([...scopes, ...asked])];
      if (widened.length > new Set(scopes).size) return widened;
      // Same scope: retry once with a fresh token (the old one may have expired early); no token: first try.
      return hadToken || before?.scheme !== 'bearer' ? widened : undefined;
    },
  };
}
