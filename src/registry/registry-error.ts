/**
 * Turns a registry's error answer into a KilnError that names the registry and repository, with the
 * distribution error code (`MANIFEST_UNKNOWN`, `BLOB_UPLOAD_INVALID`, …) and a hint where one helps.
 * The body is read with a small limit; messages never include request headers, so never credentials.
 */
import { KilnError, type ErrorCode } from '../errors.js';
import { readBody, type HttpResponse } from './http.js';

export interface ErrorContext {
  /** `registry/repository`, as the user would write it. */
  where: string;
  /** What was being done: `manifest "latest"`, `blob sha256:…`, `upload`. */
  what: string;
}

interface DistributionError {
  code?: string;
  message?: string;
  detail?: unknown;
}

/** Reads `res` (at most 64 KiB) and builds the error to throw. */
export async function registryError(res: HttpResponse, ctx: ErrorContext): Promise<KilnError> {
  const body = await readBody(res, 64 * 1024).catch(() => undefined);
  let errors: DistributionError[] = [];
  try {
    const parsed = body?.length ? JSON.parse(body.toString('utf8')) : undefined;
    if (Array.isArray(parsed?.errors)) errors = parsed.errors;
  } catch {
    /* not JSON: status alone */
  }
  return errorFor(res.status, errors, ctx);
}

/** The KilnError for a status and the distribution errors in its body (exported for unit tests). */
export function errorFor(status: number, errors: DistributionError[], ctx: ErrorContext): KilnError {
  const first = errors[0];
  const dcode = typeof first?.code === 'string' ? first.code : undefined;
  const dmsg = typeof first?.message === 'string' ? first.message : undefined;
  const detail = dcode ? ` (${dcode}${dmsg ? `: ${dmsg}` : ''})` : '';
  let code: ErrorCode;
  let text: string;
  let hint: string | undefined;
  if (status === 401) {
    code = 'REGISTRY_UNAUTHORIZED';
    text = `authentication required`;
    hint = `log in with: kiln login ${ctx.where.split('/')[0]}`;
  } else if (status === 403) {
    code = 'REGISTRY_DENIED';
    text = `access denied`;
    hint = 'the account lacks permission for this repository';
  } else if (status === 404 || dcode === 'MANIFEST_UNKNOWN' || dcode === 'BLOB_UNKNOWN' || dcode === 'NAME_UNKNOWN') {
    code = 'REGISTRY_NOT_FOUND';
    text = dcode === 'NAME_UNKNOWN' ? 'repository not found' : 'not found';
  } else if (status === 429 || status >= 500) {
    code = 'REGISTRY_UNAVAILABLE';
    text = status === 429 ? 'too many requests (gave up after retries)' : `server error ${status} (gave up after retries)`;
  } else {
    code = 'REGISTRY_PROTOCOL';
    text = `unexpected status ${status}`;
    if (dcode === 'BLOB_UPLOAD_INVALID' || dcode === 'BLOB_UPLOAD_UNKNOWN') hint = 'the upload was rejected; retrying the push starts a new one';
    if (dcode === 'MANIFEST_BLOB_UNKNOWN') hint = 'the manifest names a blob the registry does not have';
  }
  return new KilnError(code, `${ctx.where}: ${ctx.what}: ${text}${detail}`, { hint, details: { status, registryCode: dcode } });
}
