/**
 * A small Docker Engine API client for kiln's remote mode (`--host` / KILN_HOST): HTTP over a unix socket or TCP,
 * HTTPS with a client certificate when KILN_CERT_PATH holds ca.pem/cert.pem/key.pem (Docker's DOCKER_CERT_PATH
 * layout), and a bearer token from KILN_TOKEN. Errors come back as KilnErrors with the server's message.
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { ERROR_CODES, KilnError, type ErrorCode } from '../../errors.js';

export interface RemoteRequest {
  method?: string;
  path: string;
  query?: URLSearchParams;
  headers?: Record<string, string>;
  body?: Buffer | Readable;
  signal?: AbortSignal;
}

export interface RemoteClient {
  /** Sends a request; resolves with the response of any status. */
  request(r: RemoteRequest): Promise<IncomingMessage>;
  /** Sends a request and parses a JSON answer; throws the server's error for a non-2xx status. */
  json<T>(r: RemoteRequest): Promise<T>;
  /** Sends a request and calls `onMessage` per JSON line; throws on a non-2xx status or an `error` line. */
  stream(r: RemoteRequest, onMessage: (m: Record<string, unknown>) => void): Promise<void>;
  readonly host: string;
}

export interface RemoteOptions {
  token?: string;
  certPath?: string;
}

/** The KilnError code for an HTTP status the server answered with (the table of src/errors.ts, reversed). */
function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 400:
      return 'INVALID_ARGUMENT';
    case 401:
      return 'UNAUTHORIZED';
    case 404:
      return 'NOT_FOUND';
    case 409:
      return 'PRECONDITION';
    case 499:
      return 'CANCELLED';
    case 503:
      return 'SERVER_BUSY';
    default:
      return 'REMOTE_FAILED';
  }
}

/** Reads an error body (`{"message": …}`) into a KilnError. */
export async function remoteError(res: IncomingMessage): Promise<KilnError> {
  let text = '';
  for await (const c of res) {
    text += c;
    if (text.length > 65536) break;
  }
  let message = text.trim() || `HTTP ${res.statusCode}`;
  try {
    const body = JSON.parse(text) as {
      message?: string;
      kilnError?: { code?: string; message?: string; hint?: string; loc?: { file: string; line: number }; exitCode?: number };
    };
    const k = body.kilnError;
    // A kiln server says which coded error it was: keep its code, hint and exit status rather than guess from the status.
    if (k?.code && k.code in ERROR_CODES)
      return new KilnError(k.code as ErrorCode, k.message ?? body.message ?? message, { hint: k.hint, loc: k.loc, exitCode: k.exitCode });
    message = body.message ?? message;
  } catch {
    // not JSON: keep the text
  }
  return new KilnError(codeForStatus(res.statusCode ?? 500), message);
}

/** Parses `tcp://host:port`, `unix:///path`, `http(s)://host:port`. */
function parseHost(url: string): { socketPath?: string; host?: string; port?: number } {
  if (url.startsWith('unix://')) return { socketPath: url.slice('unix://'.length) };
  const m = /^(?:tcp|https?):\/\/(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/.exec(url);
  if (!m) throw new KilnError('INVALID_ARGUMENT', `--host ${JSON.stringify(url)}: expected tcp://HOST:PORT or unix:///PATH`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : 2375 };
}

function createRemoteClient(url: string, opts: RemoteOptions = {}): RemoteClient {
  const target = parseHost(url);
  const tls =
    opts.certPath && !target.socketPath
      ? {
          ca: readFileSync(join(opts.certPath, 'ca.pem')),
          cert: readFileSync(join(opts.certPath, 'cert.pem')),
          key: readFileSync(join(opts.certPath, 'key.pem')),
        }
      : undefined;

  function request(r: RemoteRequest): Promise<IncomingMessage> {
    const path = `/v1.45${r.path}${r.query && [...r.query].length ? `?${r.query}` : ''}`;
    const headers: Record<string, string> = { ...r.headers };
    if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
    const base = { method: r.method ?? 'GET', path, headers, signal: r.signal, socketPath: target.socketPath, host: target.host, port: target.port };
    return new Promise((resolve, reject) => {
      const req = tls ? https.request({ ...base, ...tls }, resolve) : http.request(base, resolve);
      req.on('error', (err) => {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ECONNREFUSED' || code === 'ENOENT')
          reject(new KilnError('REMOTE_FAILED', `cannot connect to the kiln server at ${url}`, { hint: 'is `kiln serve` running there?', cause: err }));
        else if (r.signal?.aborted) reject(new KilnError('CANCELLED', 'cancelled', { cause: err }));
        else reject(new KilnError('REMOTE_FAILED', `request to ${url} failed: ${err.message}`, { cause: err }));
      });
      if (!r.body || Buffer.isBuffer(r.body)) req.end(r.body);
      else {
        r.body.on('error', (e) => req.destroy(e));
        r.body.pipe(req);
      }
    });
  }

  async function ok(r: RemoteRequest): Promise<IncomingMessage> {
    const res = await request(r);
    if ((res.statusCode ?? 500) >= 300) throw await remoteError(res);
    return res;
  }

  return {
    host: url,
    request,
    async json<T>(r: RemoteRequest) {
      const res = await ok(r);
      let text = '';
      for await (const c of res) text += c;
      return (text ? JSON.parse(text) : undefined) as T;
    },
    async stream(r, onMessage) {
      const res = await ok(r);
      let buf = '';
      const handle = (line: string) => {
        if (!line.trim()) return;
        const m = JSON.parse(line) as Record<string, unknown>;
        onMessage(m);
      };
      for await (const c of res) {
        buf += c;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          handle(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      }
      handle(buf);
    },
  };
}

/** The client for the global options, or undefined when no remote host is set. */
export function remoteFor(g: { host?: string }): RemoteClient | undefined {
  if (!g.host) return undefined;
  return createRemoteClient(g.host, { token: process.env.KILN_TOKEN || undefined, certPath: process.env.KILN_CERT_PATH || undefined });
}

/** Throws the error a JSON stream line carries (`{"error": …}`), as a KilnError. */
export function throwIfError(m: Record<string, unknown>): void {
  if (typeof m.error !== 'string') return;
  const k = m.kilnError as
    { code?: string; message?: string; hint?: string; loc?: { file: string; line: number }; details?: Record<string, unknown>; exitCode?: number } | undefined;
  if (k?.code && k.code in ERROR_CODES)
    throw new KilnError(k.code as ErrorCode, k.message ?? m.error, { hint: k.hint, loc: k.loc, details: k.details, exitCode: k.exitCode });
  throw new KilnError('REMOTE_FAILED', m.error);
}
