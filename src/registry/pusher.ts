/**
 * Writing to a registry: HEAD a blob first (present: nothing to do), try a cross-repository mount when a sibling
 * repository is known to hold it, else start an upload and hand back a content writer (upload-writer.ts), so the
 * same copy routine fills the local store and a registry. Manifests go last, with their own media type.
 */
import { KilnError } from '../errors.js';
import type { Digest } from '../image/types.js';
import { repoScope, where, type RegistryCaller } from './client.js';
import { MANIFEST_ACCEPT } from './fetcher.js';
import { readBody } from './http.js';
import { registryError } from './registry-error.js';
import type { Pusher, RegistryRef } from './types.js';
import { createUploadWriter } from './upload-writer.js';

export function createPusher(c: RegistryCaller, ref: RegistryRef): Pusher {
  const push = [repoScope(ref.repository, 'pull,push')];
  const w = where(ref);

  const startUpload = async (query: string, scopes: string[], signal?: AbortSignal) => {
    const res = await c.call(ref.registry, {
      method: 'POST',
      path: `/v2/${ref.repository}/blobs/uploads/${query}`,
      scopes,
      signal,
      headers: { 'content-length': '0' },
    });
    res.body.resume();
    return res;
  };

  return {
    async push(desc, opts = {}) {
      const head = await c.call(ref.registry, { method: 'HEAD', path: `/v2/${ref.repository}/blobs/${desc.digest}`, scopes: push, signal: opts.signal });
      head.body.resume();
      if (head.status === 200) return { status: 'exists' };
      if (head.status !== 404) throw await registryError(head, { where: w, what: `blob ${desc.digest}` });

      let res: Awaited<ReturnType<typeof startUpload>> | undefined;
      for (const from of opts.mountFrom ?? []) {
        if (from === ref.repository) continue;
        const q = `?mount=${encodeURIComponent(desc.digest)}&from=${encodeURIComponent(from)}`;
        const r = await startUpload(q, [...push, repoScope(from, 'pull')], opts.signal);
        if (r.status === 201) return { status: 'mounted', from };
        if (r.status === 202) {
          res = r;
          break;
        }
        // A mount the registry refuses (no access to `from`) is only a missed shortcut.
      }
      res ??= await startUpload('', push, opts.signal);
      if (res.status !== 202 || !res.headers.location) throw await registryError(res, { where: w, what: `starting upload of ${desc.digest}` });
      const location = await c.absolute(ref.registry, String(res.headers.location));
      const minChunk = Number(res.headers['oci-chunk-min-length'] ?? 0) || 0;
      return { status: 'upload', writer: createUploadWriter(c, ref, { desc, location, minChunk, signal: opts.signal }) };
    },

    async putManifest(desc, body, tagOrDigest, opts = {}) {
      const res = await c.call(ref.registry, {
        method: 'PUT',
        path: `/v2/${ref.repository}/manifests/${tagOrDigest}`,
        body,
        headers: { 'content-type': desc.mediaType },
        scopes: push,
        signal: opts.signal,
      });
      if (res.status !== 201 && res.status !== 200) throw await registryError(res, { where: w, what: `manifest ${JSON.stringify(tagOrDigest)}` });
      await readBody(res, 64 * 1024).catch(() => undefined);
      const got = String(res.headers['docker-content-digest'] ?? '') as Digest;
      if (got && got !== desc.digest) {
        throw new KilnError('DIGEST_MISMATCH', `${w}: the registry stored manifest ${JSON.stringify(tagOrDigest)} as ${got}, expected ${desc.digest}`);
      }
      return desc.digest;
    },

    async hasManifest(digest, opts = {}) {
      const res = await c.call(ref.registry, {
        method: 'HEAD',
        path: `/v2/${ref.repository}/manifests/${digest}`,
        scopes: push,
        signal: opts.signal,
        headers: { accept: MANIFEST_ACCEPT },
      });
      res.body.resume();
      if (res.status === 200) return true;
      if (res.status === 404) return false;
      throw await registryError(res, { where: w, what: `manifest ${digest}` });
    },
  };
}
