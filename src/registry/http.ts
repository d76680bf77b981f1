/**
 * The registry client's HTTP transport over node:http/https (fetch cannot take extra CAs without undici's
 * Agent, and we want streamed request bodies and manual redirects). It adds what a registry client needs:
 *   - bounded retries with exponential backoff and jitter on connection resets, 429 and 5xx, honouring
 *     `Retry-After`, for requests whose body can be replayed;
 *   - redirects followed by hand, and the `Authorization` header dropped when one leaves the origin the request
 *     started at (storage redirects must never see the registry's credentials);
 *   - an idle timeout, so a stalled body becomes a retryable error instead of a hang;
 *   - the system CAs plus `--tls-ca`, and unverified TLS only for hosts the caller marks insecure.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';
import type { Readable } from 'node:stream';
import { KilnError } from '../errors.js';

export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  /** A Buffer (replayable, so retried), or a factory for a one-shot stream (never retried here). */
  body?: Buffer | (() => Readable);
  signal?: AbortSignal;
  /** Retry resets/429/5xx. Default true when the body is replayable. */
  retry?: boolean;
  /** Follow redirects (GET/HEAD of blobs). Default true. */
  followRedirects?: boolean;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  /** The URL that answered (after redirects). */
  url: string;
}

export interface TransportOptions {
  tlsCa?: Array<string | Buffer>;
  maxAttempts?: number;
  backoffMs?: number;
  idleTimeoutMs?: number;
  userAgent?: string;
  onRequest?: (method: string, url: string) => void;
  /** True for hosts where unverified TLS is acceptable (insecure registries). */
  insecure?: (host: string) => boolean;
}

export interface Transport {
  request(req: HttpRequest): Promise<HttpResponse>;
  /** Attempts per request (first included); the copy loop uses the same bound. */
  readonly maxAttempts: number;
  backoff(attempt: number, signal?: AbortSignal, retryAfter?: string): Promise<void>;
  close(): void;
}

const RETRY_STATUS = new Set([429, 500, 502, 503, 504]);
const RETRY_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'EAI_AGAIN', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET']);

/** True for errors worth another attempt: resets, refused connections, timeouts, premature closes. */
export function isTransientError(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException & { transient?: boolean };
  if (!e) return false;
  if (e.transient) return true;
  if (e.code && RETRY_CODES.has(e.code)) return true;
  return /socket hang up|aborted|premature close/i.test(e.message ?? '');
}

export function createTransport(opts: TransportOptions = {}): Transport {
  const maxAttempts = Math.max(1, opts.maxAttempts ?? 5);
  const backoffMs = opts.backoffMs ?? 250;
  const idle = opts.idleTimeoutMs ?? 60_000;
  const ca = opts.tlsCa?.length ? [...rootCertificates, ...opts.tlsCa.map(String)] : undefined;
  const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 16 });
  const httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 16, ca });
  const insecureAgent = new HttpsAgent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: false });

  const backoff = async (attempt: number, signal?: AbortSignal, retryAfter?: string): Promise<void> => {
    let ms = Math.min(10_000, backoffMs * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
    const ra = retryAfter ? Number(retryAfter) : NaN;
    if (Number.isFinite(ra) && ra >= 0) ms = Math.min(30_000, Math.max(ms, ra * 1000));
    await sleep(ms, signal);
  };

  /** One request without retries; redirects followed. */
  const once = async (req: HttpRequest): Promise<HttpResponse> => {
    let url = new URL(req.url);
    const origin = url.origin;
    let method = req.method;
    let body = req.body;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { 'user-agent': opts.userAgent ?? 'kiln/0.1', ...req.headers };
      // Credentials belong to the registry's origin alone; a storage redirect elsewhere gets none.
      if (url.origin !== origin) delete headers.authorization;
      opts.onRequest?.(method, url.origin + url.pathname);
      const res = await send(url, method, headers, body, req.signal);
      const loc = res.headers.location;
      if ((req.followRedirects ?? true) && loc && [301, 302, 303, 307, 308].includes(res.statusCode ?? 0)) {
        res.resume();
        if (hop >= 5) throw new KilnError('REGISTRY_PROTOCOL', `too many redirects fetching ${req.url.split('?')[0]}`);
        url = new URL(loc, url);
        if (res.statusCode === 303) {
          method = 'GET';
          body = undefined;
        }
        continue;
      }
      return { status: res.statusCode ?? 0, headers: res.headers, body: res, url: url.toString() };
    }
  };

  const send = (url: URL, method: string, headers: Record<string, string>, body: HttpRequest['body'], signal?: AbortSignal): Promise<IncomingMessage> =>
    new Promise((resolve, reject) => {
      const https = url.protocol === 'https:';
      const agent = !https ? httpAgent : opts.insecure?.(url.host) ? insecureAgent : httpsAgent;
      const h = { ...headers };
      if (Buffer.isBuffer(body)) h['content-length'] = String(body.length);
      const r = (https ? httpsRequest : httpRequest)(url, { method, headers: h, agent, signal }, resolve);
      r.setTimeout(idle, () => r.destroy(Object.assign(new Error(`no data from ${url.host} for ${idle} ms`), { code: 'ETIMEDOUT' })));
      r.on('error', reject);
      if (body === undefined) r.end();
      else if (Buffer.isBuffer(body)) r.end(body);
      else {
        const src = body();
        src.on('error', (err) => r.destroy(err));
        src.pipe(r);
      }
    });

  const request = async (req: HttpRequest): Promise<HttpResponse> => {
    const replayable = req.body === undefined || Buffer.isBuffer(req.body);
    const retry = (req.retry ?? true) && replayable;
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await once(req);
        if (retry && RETRY_STATUS.has(res.status) && attempt < maxAttempts) {
          res.body.resume();
          await backoff(attempt, req.signal, String(res.headers['retry-after'] ?? ''));
          continue;
        }
        return res;
      } catch (err) {
        if (req.signal?.aborted) throw new KilnError('CANCELLED', 'cancelled', { cause: err });
        if (retry && isTransientError(err) && attempt < maxAttempts) {
          await backoff(attempt, req.signal);
          continue;
        }
        throw err;
      }
    }
  };

  return {
    request,
    maxAttempts,
    backoff,
    close() {
      httpAgent.destroy();
      httpsAgent.destroy();
      insecureAgent.destroy();
    },
  };
}

/** Reads a response body into memory, refusing more than `limit` bytes (a hostile server cannot fill memory). */
export async function readBody(res: HttpResponse, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of res.body) {
    n += chunk.length;
    if (n > limit) {
      res.body.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new KilnError('CANCELLED', 'cancelled'));
      return;
    }
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new KilnError('CANCELLED', 'cancelled'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
