/**
 * Authentication for the web page. The API's rule holds unchanged (a token on TCP, TLS client certificates at the
 * connection, loopback or a unix socket open), but a browser cannot send `Authorization: Bearer` on a navigation,
 * so a valid token given once — `/ui/?token=…` or the login form's POST to `/ui/login` — is exchanged for an
 * HttpOnly, SameSite=Strict session cookie. The cookie is an HMAC of the token (never the token itself): changing
 * the server's token ends every session. It is accepted only on the page (`/ui…`) and kiln's own read API
 * (`/kiln/v1/…`), never on the Docker API, so a browser session cannot start builds or containers.
 */
import { createHmac, createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkBearer } from '../auth.js';
import { loginPage } from './login-page.js';

export const SESSION_COOKIE = 'kiln_ui';
const LOGIN_FORM_LIMIT = 4096;

/** The cookie value a session carries for `token`. */
export function sessionValue(token: string): string {
  return createHmac('sha256', token).update('kiln-ui-session-v1').digest('base64url');
}

function same(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/** True for the page's own paths (with or without an API version prefix, which the router ignores too). */
export function isUiPath(path: string): boolean {
  const p = path.replace(/^\/v\d+\.\d+(?=\/)/, '');
  return p === '/ui' || p.startsWith('/ui/');
}

/** Paths where a session cookie stands in for the bearer token: the page and kiln's own API. */
function acceptsCookie(path: string): boolean {
  const p = path.replace(/^\/v\d+\.\d+(?=\/)/, '');
  return isUiPath(p) || p.startsWith('/kiln/v1/');
}

/** Reads one cookie from the request's Cookie header. */
export function readCookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

function hasSession(req: IncomingMessage, token: string): boolean {
  const c = readCookie(req, SESSION_COOKIE);
  return c !== undefined && same(c, sessionValue(token));
}

function setSession(res: ServerResponse, token: string, secure: boolean): void {
  res.setHeader('Set-Cookie', `${SESSION_COOKIE}=${sessionValue(token)}; Path=/; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`);
}

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(303, { Location: location, 'Content-Length': 0, 'Cache-Control': 'no-store' });
  res.end();
}

function unauthorized(res: ServerResponse, message?: string): void {
  const html = loginPage(message);
  res.writeHead(401, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(html),
    'Cache-Control': 'no-store',
    'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'WWW-Authenticate': 'Bearer realm="kiln"',
  });
  res.end(html);
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > LOGIN_FORM_LIMIT) return undefined;
    chunks.push(c);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/**
 * Decides a TCP request on a server with a token. Returns true when the request may go on to routing; false when
 * this function already answered (a login redirect, the 401 login page). Throws UNAUTHORIZED (a 401 in Docker's
 * JSON shape) for any other path without a valid bearer token.
 */
export async function authorizeRequest(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  search: string,
  token: string,
  secure: boolean,
): Promise<boolean> {
  if (/^Bearer\s/i.test(req.headers.authorization ?? '')) {
    checkBearer(req, token);
    return true;
  }
  if (acceptsCookie(path) && hasSession(req, token)) return true;
  if (!isUiPath(path)) {
    checkBearer(req, token);
    return true;
  }
  const p = path.replace(/^\/v\d+\.\d+(?=\/)/, '');
  if (req.method === 'POST' && p === '/ui/login') {
    const form = await readForm(req);
    const given = form?.get('token') ?? '';
    if (given && same(given, token)) {
      setSession(res, token, secure);
      redirect(res, '/ui/');
    } else unauthorized(res, 'That token is not valid.');
    return false;
  }
  const q = new URLSearchParams(search);
  const given = q.get('token');
  if ((req.method === 'GET' || req.method === 'HEAD') && given !== null) {
    if (!same(given, token)) {
      unauthorized(res, 'That token is not valid.');
      return false;
    }
    // Exchange the token for the cookie, then drop it from the address bar (and so from history and referrers).
    q.delete('token');
    setSession(res, token, secure);
    const rest = q.toString();
    redirect(res, `${p}${rest ? `?${rest}` : ''}`);
    return false;
  }
  unauthorized(res);
  return false;
}
