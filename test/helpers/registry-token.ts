/**
 * A Docker token server for tests (the "Bearer" half of registry auth): `GET realm?service=…&scope=…` with
 * optional Basic credentials answers `{ token | access_token, expires_in, issued_at }`, a JWT signed RS256 with
 * the key whose self-signed certificate the registry trusts (`rootcertbundle`); the certificate travels in the
 * JWT's `x5c` header, which is how Distribution finds the signing key.
 *
 * `POST realm` with an OAuth2 form `grant_type=refresh_token` (distribution's token spec) exchanges a refresh
 * token from `refreshTokens` (an identity token) and, with `rotate`, answers a new one that replaces it.
 *
 * It records every request (scopes asked, account, whether credentials were valid) so tests can count token
 * round trips and see refreshes. Credentials are never recorded.
 */
import { createHash, createPrivateKey, randomBytes, sign, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

export interface TokenServerOptions {
  users: Record<string, string>;
  service: string;
  issuer: string;
  keyPem: string;
  certPem: string;
  /** Lifetime of a token in seconds (`expires_in`). Default 300. */
  expiresIn?: number;
  /** Which field carries the JWT. Default `token`. */
  field?: 'token' | 'access_token' | 'both';
  /** Grant `pull` to requests without credentials. Default false. */
  anonymousPull?: boolean;
  /** Return false to withhold an action from a user (undefined user = anonymous). */
  allow?: (user: string | undefined, repository: string, action: string) => boolean;
  /** Refresh tokens (identity tokens) the OAuth2 POST accepts, and the user each stands for. */
  refreshTokens?: Record<string, string>;
  /** Answer each refresh with a new refresh token and retire the one used. */
  rotate?: boolean;
}

export interface TokenRequest {
  scopes: string[];
  service: string | null;
  account: string | undefined;
  /** True when Basic credentials (or, for a POST, the refresh token) were present and valid. */
  authenticated: boolean;
  /** `refresh_token` for an OAuth2 POST; absent for the GET flow. */
  grant?: string;
}

export interface TokenServer {
  /** `http://127.0.0.1:PORT/token`. */
  realm: string;
  requests: TokenRequest[];
  stop(): Promise<void>;
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/** Starts the token server on 127.0.0.1 (a free port). */
export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const key = createPrivateKey(await readFile(opts.keyPem));
  const certDer = new X509Certificate(await readFile(opts.certPem)).raw;
  const requests: TokenRequest[] = [];

  const issue = (user: string | undefined, scopes: string[]): string => {
    const now = Math.floor(Date.now() / 1000);
    const access = scopes.flatMap((s) => {
      // scope = type:name:actions; name may contain ':' only for a port, which repository names never do.
      const m = /^([a-z]+):(.+):([a-z*,]+)$/.exec(s);
      if (!m) return [];
      const actions = m[3]!.split(',').filter((a) => {
        if (opts.allow && !opts.allow(user, m[2]!, a)) return false;
        return user !== undefined || a === 'pull';
      });
      return actions.length ? [{ type: m[1], name: m[2], actions }] : [];
    });
    const header = { typ: 'JWT', alg: 'RS256', x5c: [certDer.toString('base64')] };
    const claims = {
      iss: opts.issuer,
      sub: user ?? '',
      aud: opts.service,
      exp: now + (opts.expiresIn ?? 300),
      nbf: now - 10,
      iat: now,
      jti: createHash('sha256').update(randomBytes(16)).digest('hex').slice(0, 24),
      access,
    };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    return `${signingInput}.${b64url(sign('sha256', Buffer.from(signingInput), key))}`;
  };

  const refreshTokens = new Map(Object.entries(opts.refreshTokens ?? {}));
  const oauth = (req: IncomingMessage, res: ServerResponse, form: URLSearchParams): void => {
    const grant = form.get('grant_type') ?? '';
    const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
    const user = grant === 'refresh_token' ? refreshTokens.get(form.get('refresh_token') ?? '') : undefined;
    requests.push({ scopes, service: form.get('service'), account: user, authenticated: user !== undefined, grant });
    if (user === undefined) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid_grant' }));
      return;
    }
    const body: Record<string, unknown> = { access_token: issue(user, scopes), expires_in: opts.expiresIn ?? 300, issued_at: new Date().toISOString() };
    if (opts.rotate) {
      refreshTokens.delete(form.get('refresh_token')!);
      const next = randomBytes(16).toString('hex');
      refreshTokens.set(next, user);
      body.refresh_token = next;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/token') {
      res.writeHead(404).end();
      return;
    }
    if (req.method === 'POST') {
      let text = '';
      req.on('data', (d) => (text += d));
      req.on('end', () => oauth(req, res, new URLSearchParams(text)));
      return;
    }
    let user: string | undefined;
    let authenticated = false;
    const authz = req.headers.authorization;
    if (authz?.startsWith('Basic ')) {
      const [u, ...rest] = Buffer.from(authz.slice(6), 'base64').toString().split(':');
      if (u !== undefined && opts.users[u] !== undefined && opts.users[u] === rest.join(':')) {
        user = u;
        authenticated = true;
      } else {
        requests.push({ scopes: url.searchParams.getAll('scope'), service: url.searchParams.get('service'), account: u, authenticated: false });
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ details: 'incorrect username or password' }));
        return;
      }
    }
    const scopes = url.searchParams
      .getAll('scope')
      .flatMap((s) => s.split(' '))
      .filter(Boolean);
    requests.push({ scopes, service: url.searchParams.get('service'), account: url.searchParams.get('account') ?? user, authenticated });
    if (!authenticated && !opts.anonymousPull) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ details: 'authentication required' }));
      return;
    }
    const jwt = issue(user, scopes);
    const field = opts.field ?? 'token';
    const body: Record<string, unknown> = { expires_in: opts.expiresIn ?? 300, issued_at: new Date().toISOString() };
    if (field === 'token' || field === 'both') body.token = jwt;
    if (field === 'access_token' || field === 'both') body.access_token = jwt;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };

  const server = createServer(handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    requests,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
