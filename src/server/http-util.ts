/**
 * Small helpers for answering the way dockerd does: JSON bodies, `{"message": …}` errors with the KilnError's
 * HTTP status, bounded JSON request bodies and typed query parameters.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { KilnError, httpStatusOf, isKilnError } from '../errors.js';

/** Writes `body` as JSON with `status`. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** The text a client sees for an error: a KilnError's message with its hint; anything else is opaque. */
export function errorMessage(err: unknown): string {
  if (isKilnError(err)) return err.hint ? `${err.describe()} (hint: ${err.hint})` : err.describe();
  return 'internal server error';
}

/** Answers with Docker's error shape; if the headers already went out, ends the response instead. */
export function sendError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // 499 is nginx's "client closed request"; nobody is listening, but keep the log line truthful.
  // Docker's clients read `message`; kiln's own client rebuilds the coded error (its hint and exit status) from `kilnError`.
  const kilnError = isKilnError(err) ? { code: err.code, message: err.message, hint: err.hint, loc: err.loc, exitCode: err.exitCode } : undefined;
  sendJson(res, httpStatusOf(err), { message: errorMessage(err), ...(kilnError ? { kilnError } : {}) });
}

/** Reads a JSON request body of at most `limit` bytes; PAYLOAD_TOO_LARGE / INVALID_ARGUMENT on bad input. */
export async function readJsonBody<T>(req: IncomingMessage, limit: number): Promise<T | undefined> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw tooLarge('JSON body', limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge('JSON body', limit);
    chunks.push(chunk);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
  } catch (err) {
    throw new KilnError('INVALID_ARGUMENT', `request body is not valid JSON: ${(err as Error).message}`);
  }
}

function tooLarge(what: string, limit: number): KilnError {
  return new KilnError('PAYLOAD_TOO_LARGE', `${what} exceeds the server's limit of ${limit} bytes`);
}

/** Typed access to a request's query string with Docker's conventions (`1`/`true` booleans, JSON-valued params). */
export class Query {
  constructor(
    readonly params: URLSearchParams,
    private readonly jsonLimit: number,
  ) {}

  str(name: string): string | undefined {
    const v = this.params.get(name);
    return v === null || v === '' ? undefined : v;
  }

  all(name: string): string[] {
    return this.params.getAll(name).filter((v) => v !== '');
  }

  bool(name: string): boolean {
    const v = this.params.get(name);
    if (v === null || v === '') return false;
    if (/^(1|true|yes)$/i.test(v)) return true;
    if (/^(0|false|no)$/i.test(v)) return false;
    throw new KilnError('INVALID_ARGUMENT', `query parameter ${name}=${JSON.stringify(v.slice(0, 40))} is not a boolean`);
  }

  int(name: string): number | undefined {
    const v = this.str(name);
    if (v === undefined) return undefined;
    if (!/^-?\d+$/.test(v)) throw new KilnError('INVALID_ARGUMENT', `query parameter ${name} is not an integer`);
    return Number(v);
  }

  /** A JSON-valued parameter (`buildargs`, `labels`, `cachefrom`), size-limited before parsing. */
  json<T>(name: string): T | undefined {
    const v = this.str(name);
    if (v === undefined) return undefined;
    if (v.length > this.jsonLimit) throw tooLarge(`query parameter ${name}`, this.jsonLimit);
    try {
      return JSON.parse(v) as T;
    } catch {
      throw new KilnError('INVALID_ARGUMENT', `query parameter ${name} is not valid JSON`);
    }
  }

  /** A JSON object of strings (`buildargs`, `labels`); null values (docker's "unset") are dropped. */
  stringMap(name: string): Record<string, string> | undefined {
    const v = this.json<unknown>(name);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) throw new KilnError('INVALID_ARGUMENT', `query parameter ${name} must be a JSON object`);
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
      if (val === null) continue;
      if (typeof val !== 'string') throw new KilnError('INVALID_ARGUMENT', `query parameter ${name}: value of ${JSON.stringify(k)} must be a string`);
      out[k] = val;
    }
    return out;
  }
}
