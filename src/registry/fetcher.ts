/**
 * Reading from a registry: `resolveManifest` (a manifest or index by tag or digest, size-limited and digest-checked
 * in memory, since manifests are small by rule) and `createFetcher` (blobs as streams, resumable with `Range`).
 * Blob bytes are verified by the content writer they stream into, not here.
 */
import { createHash } from 'node:crypto';
import type { IoOptions } from '../cache/types.js';
import { KilnError } from '../errors.js';
import { isIndexMediaType, isManifestMediaType, MediaType, type Descriptor } from '../image/types.js';
import { repoScope, where, type RegistryCaller } from './client.js';
import { isTransientError, readBody } from './http.js';
import { registryError } from './registry-error.js';
import { skipBytes } from './copy.js';
import type { Fetcher, RegistryRef } from './types.js';

export const MANIFEST_ACCEPT = [MediaType.OciIndex, MediaType.DockerManifestList, MediaType.OciManifest, MediaType.DockerManifest].join(', ');
const DEFAULT_MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/**
 * GETs a manifest or index; refuses bodies over the limit, digest mismatches and unknown media types. A body cut
 * by a reset is fetched again (bounded, with backoff), as the transport does for failures before the answer.
 */
export async function resolveManifest(c: RegistryCaller, ref: RegistryRef, opts: IoOptions = {}): Promise<{ descriptor: Descriptor; body: Buffer }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await resolveOnce(c, ref, opts);
    } catch (err) {
      if (!isTransientError(err) || opts.signal?.aborted) throw err;
      if (attempt >= c.transport.maxAttempts) {
        if (err instanceof KilnError) throw err;
        throw new KilnError(
          'REGISTRY_UNAVAILABLE',
          `${where(ref)}: manifest ${JSON.stringify(ref.digest ?? ref.tag ?? 'latest')}: ${(err as Error).message} (gave up after ${attempt} attempts)`,
          { cause: err },
        );
      }
      await c.transport.backoff(attempt, opts.signal);
    }
  }
}

async function resolveOnce(c: RegistryCaller, ref: RegistryRef, opts: IoOptions): Promise<{ descriptor: Descriptor; body: Buffer }> {
  const id = ref.digest ?? ref.tag ?? 'latest';
  const limit = c.opts.maxManifestBytes ?? DEFAULT_MAX_MANIFEST_BYTES;
  const what = `manifest ${JSON.stringify(id)}`;
  const res = await c.call(ref.registry, {
    method: 'GET',
    path: `/v2/${ref.repository}/manifests/${id}`,
    headers: { accept: MANIFEST_ACCEPT },
    scopes: [repoScope(ref.repository, 'pull')],
    signal: opts.signal,
  });
  if (res.status !== 200) throw await registryError(res, { where: where(ref), what });
  const declared = Number(res.headers['content-length']);
  const tooLarge = (): KilnError => new KilnError('MANIFEST_TOO_LARGE', `${where(ref)}: ${what} is larger than ${limit} bytes; refused`);
  if (Number.isFinite(declared) && declared > limit) {
    res.body.destroy();
    throw tooLarge();
  }
  const body = await readBody(res, limit);
  if (!body) throw tooLarge();
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  if (ref.digest && ref.digest !== digest) {
    throw new KilnError('DIGEST_MISMATCH', `${where(ref)}: manifest ${ref.digest} arrived with digest ${digest}; refused`);
  }
  const headerDigest = String(res.headers['docker-content-digest'] ?? '');
  if (!ref.digest && headerDigest.startsWith('sha256:') && headerDigest !== digest) {
    throw new KilnError('DIGEST_MISMATCH', `${where(ref)}: ${what}: the registry says ${headerDigest} but the body hashes to ${digest}; refused`);
  }
  let parsed: { mediaType?: string; schemaVersion?: number; manifests?: unknown; config?: unknown };
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new KilnError('REGISTRY_PROTOCOL', `${where(ref)}: ${what} is not valid JSON`);
  }
  const contentType = String(res.headers['content-type'] ?? '')
    .split(';')[0]!
    .trim();
  let mediaType = parsed.mediaType ?? contentType;
  if (!isIndexMediaType(mediaType) && !isManifestMediaType(mediaType)) {
    // An OCI manifest may omit mediaType; tell index from manifest by shape.
    if (parsed.schemaVersion === 2 && Array.isArray(parsed.manifests)) mediaType = MediaType.OciIndex;
    else if (parsed.schemaVersion === 2 && parsed.config) mediaType = MediaType.OciManifest;
    else
      throw new KilnError('REGISTRY_PROTOCOL', `${where(ref)}: ${what} has unsupported media type ${JSON.stringify(mediaType || contentType)}`, {
        hint: parsed.schemaVersion === 1 ? 'schema 1 manifests are deprecated and not supported' : undefined,
      });
  }
  return { descriptor: { mediaType, digest, size: body.length }, body };
}

/** Fetches blobs (or manifests by digest) of one repository. */
export function createFetcher(c: RegistryCaller, ref: RegistryRef): Fetcher {
  return {
    async fetch(desc, opts = {}) {
      const offset = opts.offset ?? 0;
      const kind = isIndexMediaType(desc.mediaType) || isManifestMediaType(desc.mediaType) ? 'manifests' : 'blobs';
      const res = await c.call(ref.registry, {
        method: 'GET',
        path: `/v2/${ref.repository}/${kind}/${desc.digest}`,
        headers: { accept: kind === 'manifests' ? MANIFEST_ACCEPT : '*/*', ...(offset > 0 ? { range: `bytes=${offset}-` } : {}) },
        scopes: [repoScope(ref.repository, 'pull')],
        signal: opts.signal,
      });
      if (res.status === 206 && offset > 0) return res.body;
      if (res.status !== 200) throw await registryError(res, { where: where(ref), what: `${kind === 'blobs' ? 'blob' : 'manifest'} ${desc.digest}` });
      // A server that ignored our `Range` sent the whole blob again.
      return skipBytes(res.body, offset);
    },
  };
}
