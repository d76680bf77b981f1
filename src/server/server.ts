/**
 * `kiln serve`'s HTTP server: the Docker Engine API on a unix socket and/or TCP (optionally TLS with client
 * certificates), a bearer token for TCP, per-request JSON logs, idle timeouts, and a draining shutdown.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { connect } from 'node:net';
import { chmod, mkdir, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { KilnError, httpStatusOf } from '../errors.js';
import type { ServerBackend } from './backend.js';
import { DEFAULT_LIMITS, type Handler, type RequestContext, type ServerLimits, type ServerState } from './context.js';
import { createRouter, type Params, type Route } from './router.js';
import { routes } from './routes/index.js';
import { Query, sendError, sendJson, errorMessage } from './http-util.js';
import { checkBearer, checkListenSecurity } from './auth.js';
import { authorizeRequest } from './ui/ui-auth.js';
import { createLogger, logPath, type Logger } from './log.js';
import { createBuildQueue } from './build-queue.js';
import { createContextCache } from './context-cache.js';
import { newId } from './routes/build.js';
import { upgradeRoutes, type UpgradeHandler } from './attach.js';
import { execUpgradeRoutes } from './routes/exec.js';
import type { Entitlement } from '../builder/entitlements.js';
import type { CacheDefaults } from './build-params.js';

export type ListenSpec = { kind: 'unix'; path: string; mode?: number } | { kind: 'tcp'; host: string; port: number };

export interface TlsOptions {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export interface KilnServerOptions {
  backend: ServerBackend;
  listen: ListenSpec[];
  /** TLS for TCP listeners; clients must present a certificate signed by `ca`. */
  tls?: TlsOptions;
  /** Bearer token required on TCP listeners. */
  token?: string;
  /** Builds running at once (default: CPU count, at least 1). */
  concurrency?: number;
  limits?: Partial<ServerLimits>;
  log?: Logger;
  version?: string;
  /** Unpacked contexts kept for reuse by identical uploads (default 8; 0 unpacks every context fresh). */
  contextCacheEntries?: number;
  /** Entitlements a build may be granted when it asks (`kiln serve --allow`); none by default. */
  allow?: readonly Entitlement[];
  /** Host directories (real paths) containers created through the API may bind from; none by default. */
  bindRoots?: readonly string[];
  /**
   * Cache import/export for every build (`kiln serve --cache-from/--cache-to`; type=local allowed, being the
   * operator's): a build's own `cachefrom` replaces the cache-from list, its `kilncacheto` the cache-to list.
   */
  cache?: CacheDefaults;
  /** The route table (default: all of it); `kiln ui` passes only the page and kiln's own API (`pageRoutes`). */
  routes?: Array<Route<Handler>>;
}

export interface KilnServer {
  /** Starts every listener; resolves with their addresses (`unix:///…`, `tcp://127.0.0.1:PORT`). */
  listen(): Promise<string[]>;
  /** Stops accepting, lets builds finish for `graceMs`, cancels the rest, closes connections and the backend. */
  close(graceMs?: number): Promise<void>;
  readonly state: ServerState;
}

type Tracked = Socket & { kilnRes?: ServerResponse };

/** Creates the server; nothing listens until `listen()`. Throws PRECONDITION for an unauthenticated public TCP listener. */
export function createKilnServer(opts: KilnServerOptions): KilnServer {
  for (const l of opts.listen) if (l.kind === 'tcp') checkListenSecurity({ host: l.host, tls: Boolean(opts.tls), token: Boolean(opts.token) });
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const log = opts.log ?? createLogger();
  const state: ServerState = {
    backend: opts.backend,
    limits,
    log,
    builds: createBuildQueue({ concurrency: opts.concurrency ?? 2, maxQueued: limits.maxQueuedBuilds }),
    contexts: createContextCache({ dir: join(opts.backend.tmpDir, 'contexts'), maxEntries: opts.contextCacheEntries ?? 8 }),
    draining: false,
    allow: opts.allow ?? [],
    bindRoots: opts.bindRoots ?? [],
    cache: opts.cache ?? {},
    version: opts.version ?? '0.1.0',
  };
  const router = createRouter<Handler>(opts.routes ?? routes);
  const upgrades = createRouter<UpgradeHandler>([...upgradeRoutes, ...execUpgradeRoutes]);
  const servers: Array<{ server: http.Server; spec: ListenSpec }> = [];
  /** Hijacked connections (attach): the HTTP server no longer manages them, so close() ends them itself. */
  const upgraded = new Set<Duplex>();

  async function handle(req: IncomingMessage, res: ServerResponse, spec: ListenSpec): Promise<void> {
    const started = Date.now();
    const id = newId();
    const ac = new AbortController();
    (req.socket as Tracked).kilnRes = res;
    res.on('close', () => {
      if (!res.writableFinished) ac.abort(new KilnError('CANCELLED', 'the client went away'));
      if ((req.socket as Tracked).kilnRes === res) (req.socket as Tracked).kilnRes = undefined;
      log.info('request', {
        id,
        method: req.method,
        path: logPath(req.url),
        status: res.statusCode,
        durationMs: Date.now() - started,
        remote: req.socket.remoteAddress ?? 'unix',
        outcome: res.writableFinished ? 'ok' : 'aborted',
      });
    });
    try {
      const { path, search } = splitUrl(req.url ?? '/');
      // The bearer token, or for the web page and kiln's own API a session cookie the page's login exchanged it for.
      if (spec.kind === 'tcp' && opts.token && !(await authorizeRequest(req, res, path, search, opts.token, Boolean(opts.tls)))) return;
      const m = router.match(req.method ?? 'GET', path);
      if (!m.handler) {
        if (m.allowed.length) {
          res.setHeader('Allow', m.allowed.join(', '));
          sendJson(res, 405, { message: `method ${req.method} not allowed for ${logPath(path)}` });
        } else sendJson(res, 404, { message: 'page not found' });
        return;
      }
      const ctx: RequestContext = {
        req,
        res,
        params: m.params as Params,
        query: new Query(new URLSearchParams(search), limits.maxJsonQueryBytes),
        state,
        signal: ac.signal,
        id,
        apiVersion: m.version,
      };
      await m.handler(ctx);
    } catch (err) {
      if (httpStatusOf(err) >= 500 && !(err instanceof KilnError))
        log.error('request failed', { id, path: logPath(req.url), error: (err as Error)?.stack ?? String(err) });
      if (!req.complete && !res.headersSent) res.setHeader('Connection', 'close');
      sendError(res, err);
      if (!req.complete) discardBody(req);
    }
  }

  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, spec: ListenSpec): void {
    // A client that resets an upgraded connection must not crash the server (an 'error' without a listener throws).
    socket.on('error', () => {});
    upgraded.add(socket);
    socket.on('close', () => upgraded.delete(socket));
    const fail = (err: unknown) => {
      const body = JSON.stringify({ message: errorMessage(err) });
      socket.end(
        `HTTP/1.1 ${httpStatusOf(err)} Error\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    };
    try {
      if (spec.kind === 'tcp' && opts.token) checkBearer(req, opts.token);
      const { path, search } = splitUrl(req.url ?? '/');
      const m = upgrades.match(req.method ?? 'POST', path);
      if (!m.handler) throw new KilnError('NOT_FOUND', 'page not found');
      (socket as Socket).setTimeout?.(0);
      m.handler({ req, socket, head, params: m.params, query: new Query(new URLSearchParams(search), limits.maxJsonQueryBytes), state }).catch(fail);
    } catch (err) {
      fail(err);
    }
  }

  function makeServer(spec: ListenSpec): http.Server {
    const common = { maxHeaderSize: limits.maxHeaderBytes, headersTimeout: limits.headersTimeoutMs, requestTimeout: 0, keepAliveTimeout: 5_000 };
    const server =
      spec.kind === 'tcp' && opts.tls
        ? https.createServer({ ...common, ca: opts.tls.ca, cert: opts.tls.cert, key: opts.tls.key, requestCert: true, rejectUnauthorized: true })
        : http.createServer(common);
    server.on('request', (req, res) => void handle(req, res, spec).catch(() => res.destroy())); // the error reply itself failed
    server.on('upgrade', (req, socket, head) => handleUpgrade(req, socket, head, spec));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => answerClientError(err, socket, limits));
    // Idle connections close; a response that is streaming (a build, a wait) keeps its socket however quiet.
    server.setTimeout(limits.idleTimeoutMs, (socket: Tracked) => {
      const res = socket.kilnRes;
      if (res && res.headersSent && !res.writableEnded) return;
      socket.destroy();
    });
    return server;
  }

  return {
    state,
    async listen() {
      const addrs: string[] = [];
      for (const spec of opts.listen) {
        const server = makeServer(spec);
        if (spec.kind === 'unix') {
          await mkdir(dirname(spec.path), { recursive: true });
          await removeStaleSocket(spec.path);
          await new Promise<void>((resolve, reject) => server.once('error', reject).listen(spec.path, () => resolve()));
          await chmod(spec.path, spec.mode ?? 0o660);
          addrs.push(`unix://${spec.path}`);
        } else {
          await new Promise<void>((resolve, reject) => server.once('error', (e) => reject(listenError(e, spec))).listen(spec.port, spec.host, () => resolve()));
          const a = server.address();
          const port = typeof a === 'object' && a ? a.port : spec.port;
          addrs.push(`tcp://${spec.host.includes(':') ? `[${spec.host}]` : spec.host}:${port}`);
        }
        servers.push({ server, spec });
      }
      log.info('listening', { listen: addrs, version: state.version });
      return addrs;
    },
    async close(graceMs = 30_000) {
      state.draining = true;
      log.info('draining', { running: state.builds.running, queued: state.builds.queued });
      const closed = servers.map(({ server }) => new Promise<void>((r) => server.close(() => r())));
      for (const { server } of servers) server.closeIdleConnections();
      await state.builds.drain(graceMs);
      // Let the last stream lines flush, then cut whatever is still open (attached clients, keep-alives).
      await new Promise((r) => setTimeout(r, 100));
      for (const { server } of servers) server.closeAllConnections();
      for (const socket of upgraded) socket.destroy();
      await Promise.all(closed);
      for (const { spec } of servers) if (spec.kind === 'unix') await unlink(spec.path).catch(() => {});
      servers.length = 0;
      await state.contexts.clear();
      await opts.backend.close?.();
      log.info('stopped', {});
    },
  };
}

/**
 * A request Node's parser refused (headers or URL past maxHeaderSize, malformed HTTP): answer in Docker's JSON
 * shape, then keep reading and dropping for a moment so a client still sending its (huge) request line or body
 * gets to read the answer instead of a connection reset.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex, limits: ServerLimits): void {
  if (!socket.writable || err.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const tooBig = err.code === 'HPE_HEADER_OVERFLOW';
  const status = tooBig ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
  const body = JSON.stringify({
    message: tooBig ? `request line and headers exceed the server's limit of ${limits.maxHeaderBytes} bytes` : 'malformed HTTP request',
  });
  socket.end(`HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  let dropped = 0;
  socket.on('data', (c: Buffer) => {
    dropped += c.length;
    if (dropped > 16 * 1024 * 1024) socket.destroy();
  });
  socket.on('error', () => {});
  socket.resume();
  setTimeout(() => socket.destroy(), 5_000).unref();
}

/**
 * Reads and drops what is left of a request body answered early (an error), so the client sees the answer rather
 * than a reset; past 8 MiB (an oversized context) the connection is cut instead of reading gigabytes.
 */
function discardBody(req: IncomingMessage): void {
  let dropped = 0;
  req.on('data', (c: Buffer) => {
    dropped += c.length;
    if (dropped > 8 * 1024 * 1024) req.socket.destroy();
  });
  req.on('error', () => {});
  req.resume();
}

/** Splits a request target without normalizing it: `..` must reach the name check, not be resolved away. */
function splitUrl(url: string): { path: string; search: string } {
  const i = url.indexOf('?');
  return i < 0 ? { path: url, search: '' } : { path: url.slice(0, i), search: url.slice(i + 1) };
}

function listenError(e: unknown, spec: ListenSpec & { kind: 'tcp' }): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return new KilnError('PORT_IN_USE', `tcp://${spec.host}:${spec.port} is already in use`, { cause: e });
  if (code === 'EADDRNOTAVAIL') return new KilnError('INVALID_ARGUMENT', `cannot listen on ${spec.host}: no such local address`, { cause: e });
  return e;
}

/** Removes a socket file left by a server that died, but never one a live server answers on. */
async function removeStaleSocket(path: string): Promise<void> {
  const live = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (live) throw new KilnError('PORT_IN_USE', `${path}: another server is listening on this socket`);
  await unlink(path).catch(() => {});
}
