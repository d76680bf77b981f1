/**
 * A blob upload as a content writer. Two shapes:
 *   - monolithic (chunkSize 0): one PUT `Location?digest=` whose body streams as bytes are written;
 *   - chunked: PATCH `Location` with `Content-Range` per chunk (at least `OCI-Chunk-Min-Length`), following the
 *     `Location` each answer gives, then PUT `?digest=`. A chunk that fails is resent from where the upload's
 *     status (`GET Location` → `Range: 0-N`) says the registry stopped; `resumeOffset()` does the same for the
 *     copy loop after a source failure.
 * Memory: at most one chunk is buffered.
 */
import { Transform, Writable } from 'node:stream';
import { KilnError } from '../errors.js';
import type { Descriptor } from '../image/types.js';
import { repoScope, where, type RegistryCaller } from './client.js';
import { isTransientError, type HttpResponse } from './http.js';
import { registryError } from './registry-error.js';
import type { BlobInfo, RegistryRef, UploadWriter } from './types.js';

export interface UploadWriterOptions {
  desc: Descriptor;
  location: string;
  minChunk: number;
  signal?: AbortSignal;
}

function withDigest(location: string, digest: string): string {
  const u = new URL(location);
  u.searchParams.set('digest', digest);
  return u.toString();
}

/** `Range: 0-N` → N+1 bytes held. Distribution writes `0-0` for an empty upload, so 0-0 counts as 0. */
export function parseUploadRange(range: string | undefined): number | undefined {
  const m = /^(?:bytes=)?0-(\d+)$/.exec(range?.trim() ?? '');
  if (!m) return undefined;
  const end = Number(m[1]);
  return end === 0 ? 0 : end + 1;
}

export function createUploadWriter(c: RegistryCaller, ref: RegistryRef, o: UploadWriterOptions): UploadWriter {
  const chunkSize = c.opts.chunkSize ?? 0;
  return chunkSize > 0 ? chunkedWriter(c, ref, o, Math.max(chunkSize, o.minChunk)) : monolithicWriter(c, ref, o);
}

const scopesOf = (ref: RegistryRef): string[] => [repoScope(ref.repository, 'pull,push')];

async function finish(c: RegistryCaller, ref: RegistryRef, o: UploadWriterOptions, res: HttpResponse): Promise<BlobInfo> {
  if (res.status !== 201) throw await registryError(res, { where: where(ref), what: `upload of ${o.desc.digest}` });
  res.body.resume();
  const got = String(res.headers['docker-content-digest'] ?? '');
  if (got && got !== o.desc.digest) throw new KilnError('DIGEST_MISMATCH', `${where(ref)}: registry stored ${got} for blob ${o.desc.digest}`);
  return { digest: o.desc.digest, size: o.desc.size };
}

async function cancelUpload(c: RegistryCaller, ref: RegistryRef, location: string): Promise<void> {
  try {
    const res = await c.call(ref.registry, { method: 'DELETE', path: location, scopes: scopesOf(ref), retry: false });
    res.body.resume();
  } catch {
    /* best effort: registries purge stale uploads themselves */
  }
}

function monolithicWriter(c: RegistryCaller, ref: RegistryRef, o: UploadWriterOptions): UploadWriter {
  let written = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _e, cb) {
      written += chunk.length;
      cb(null, chunk);
    },
  });
  const response = c.call(ref.registry, {
    method: 'PUT',
    path: withDigest(o.location, o.desc.digest),
    body: () => stream,
    retry: false,
    signal: o.signal,
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(o.desc.size) },
    scopes: scopesOf(ref),
  });
  // An early answer (an error before all bytes went out) or a broken connection must stop the writer side too.
  // (A 201 may arrive as the last bytes go out, before our end(): only failures stop the writer.)
  response.then(
    async (res) => {
      if (res.status === 201 || stream.writableFinished) return;
      const err =
        res.status >= 500 || res.status === 429
          ? Object.assign(new KilnError('REGISTRY_UNAVAILABLE', `${where(ref)}: upload of ${o.desc.digest} answered ${res.status}`), { transient: true })
          : await registryError(res, { where: where(ref), what: `upload of ${o.desc.digest}` });
      stream.destroy(err);
    },
    (err) => stream.destroy(err),
  );
  let done = false;
  return {
    stream,
    get written() {
      return written;
    },
    async commit() {
      const res = await response;
      done = true;
      return finish(c, ref, o, res);
    },
    async abort() {
      if (done) return;
      done = true;
      stream.destroy();
      await response.catch(() => undefined);
      await cancelUpload(c, ref, o.location);
    },
  };
}

function chunkedWriter(c: RegistryCaller, ref: RegistryRef, o: UploadWriterOptions, chunkSize: number): UploadWriter {
  let location = o.location;
  let confirmed = 0;
  let pending: Buffer[] = [];
  let pendingLen = 0;
  let done = false;

  const status = async (): Promise<number | undefined> => {
    const res = await c.call(ref.registry, { method: 'GET', path: location, scopes: scopesOf(ref), signal: o.signal });
    res.body.resume();
    if (res.status !== 204 && res.status !== 200) return undefined;
    if (res.headers.location) location = await c.absolute(ref.registry, String(res.headers.location));
    return parseUploadRange(String(res.headers.range ?? ''));
  };

  const sendChunk = async (data: Buffer, start: number): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      let failure: unknown;
      try {
        const res = await c.call(ref.registry, {
          method: 'PATCH',
          path: location,
          body: data,
          retry: false,
          signal: o.signal,
          scopes: scopesOf(ref),
          headers: { 'content-type': 'application/octet-stream', 'content-range': `${start}-${start + data.length - 1}` },
        });
        if (res.status === 202) {
          res.body.resume();
          if (res.headers.location) location = await c.absolute(ref.registry, String(res.headers.location));
          confirmed = start + data.length;
          return;
        }
        if (res.status < 500 && res.status !== 416 && res.status !== 429)
          throw await registryError(res, { where: where(ref), what: `chunk ${start}-${start + data.length - 1} of ${o.desc.digest}` });
        res.body.resume();
        failure = new KilnError('REGISTRY_UNAVAILABLE', `${where(ref)}: chunk upload answered ${res.status}`);
      } catch (err) {
        if (!isTransientError(err)) throw err;
        failure = err;
      }
      if (attempt >= c.transport.maxAttempts) throw failure;
      await c.transport.backoff(attempt, o.signal);
      // Continue where the registry says it stopped, which may be inside the chunk we were sending.
      const at = await status().catch(() => undefined);
      if (at === undefined || at < start || at > start + data.length) throw failure;
      data = data.subarray(at - start);
      start = at;
      if (data.length === 0) {
        confirmed = at;
        return;
      }
    }
  };

  /** Sends full chunks; with `all`, the remainder too (the last chunk may be shorter than the minimum). */
  const flush = async (all: boolean): Promise<void> => {
    while (pendingLen >= chunkSize || (all && pendingLen > 0)) {
      const data = Buffer.concat(pending, pendingLen);
      const n = Math.min(chunkSize, data.length);
      pending = n < data.length ? [data.subarray(n)] : [];
      pendingLen = data.length - n;
      await sendChunk(data.subarray(0, n), confirmed);
    }
  };

  const makeStream = (): Writable =>
    new Writable({
      write(chunk: Buffer, _e, cb) {
        pending.push(chunk);
        pendingLen += chunk.length;
        if (pendingLen >= chunkSize) flush(false).then(() => cb(), cb);
        else cb();
      },
      final(cb) {
        flush(true).then(() => cb(), cb);
      },
    });
  let stream = makeStream();

  return {
    get stream() {
      return stream;
    },
    get written() {
      return confirmed + pendingLen;
    },
    async resumeOffset() {
      const at = await status().catch(() => undefined);
      if (at === undefined) return undefined;
      confirmed = at;
      pending = [];
      pendingLen = 0;
      stream = makeStream();
      return at;
    },
    async commit() {
      await flush(true);
      const res = await c.call(ref.registry, {
        method: 'PUT',
        path: withDigest(location, o.desc.digest),
        body: Buffer.alloc(0),
        signal: o.signal,
        scopes: scopesOf(ref),
        headers: { 'content-type': 'application/octet-stream' },
      });
      done = true;
      return finish(c, ref, o, res);
    },
    async abort() {
      if (done) return;
      done = true;
      stream.destroy();
      await cancelUpload(c, ref, location);
    },
  };
}
