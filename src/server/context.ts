/** What every route handler gets: the request, its parsed parts, and the server's shared state. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServerBackend } from './backend.js';
import type { Logger } from './log.js';
import type { Query } from './http-util.js';
import type { BuildQueue } from './build-queue.js';
import type { ContextCache } from './context-cache.js';
import type { Entitlement } from '../builder/entitlements.js';
import type { CacheDefaults } from './build-params.js';

/** Limits on what a client may send. Sizes in bytes, times in milliseconds. */
export interface ServerLimits {
  /** Unpacked build context. Default 2 GiB. */
  maxContextBytes: number;
  /** Entries in a build context. Default 1,000,000. */
  maxContextEntries: number;
  /** A JSON request body or JSON-valued query parameter. Default 1 MiB / 32 KiB. */
  maxJsonBytes: number;
  maxJsonQueryBytes: number;
  /** Request line plus headers (Node's maxHeaderSize). Default 64 KiB. */
  maxHeaderBytes: number;
  /** An idle connection (no bytes either way, no response being streamed) is closed after this. Default 5 min. */
  idleTimeoutMs: number;
  /** Time to receive a request's headers. Default 30 s. */
  headersTimeoutMs: number;
  /** Builds waiting for a slot beyond which new builds get 503. Default 256. */
  maxQueuedBuilds: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxContextBytes: 2 * 1024 ** 3,
  maxContextEntries: 1_000_000,
  maxJsonBytes: 1024 ** 2,
  maxJsonQueryBytes: 32 * 1024,
  maxHeaderBytes: 64 * 1024,
  idleTimeoutMs: 5 * 60_000,
  headersTimeoutMs: 30_000,
  maxQueuedBuilds: 256,
};

/** State shared by all requests of one server. */
export interface ServerState {
  backend: ServerBackend;
  limits: ServerLimits;
  log: Logger;
  builds: BuildQueue;
  /** Unpacked contexts, reused when the same tar comes again. */
  contexts: ContextCache;
  /** Set by drain(): new builds are refused. */
  draining: boolean;
  /** Entitlements builds may be granted when they ask (`kiln serve --allow`); none by default. */
  allow: readonly Entitlement[];
  /** Host directories (real paths) whose contents containers may bind-mount (`kiln serve --allow-bind`); none by default. */
  bindRoots: readonly string[];
  /** Cache import/export for every build that names none of its own (`kiln serve --cache-from/--cache-to`). */
  cache: CacheDefaults;
  version: string;
}

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: Query;
  state: ServerState;
  /** Aborted when the client goes away before the response is complete. */
  signal: AbortSignal;
  /** A request id for log lines. */
  id: string;
  /** The API version of the path's `/v1.NN/` prefix; undefined for a bare path (kiln's own, the newest). */
  apiVersion?: string;
}

export type Handler = (ctx: RequestContext) => Promise<void>;
