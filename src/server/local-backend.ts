/**
 * Wires the server's backend interface to the real kiln of one state root: the image store (H2), the builder
 * (H6, via openBuilder), the registry client (H5) and the executor's containers (H4). One builder is shared by
 * every request, so all builds share its cache, its step queue and its in-flight map (identical steps running at
 * once run once).
 */
import { openRoot } from '../cache/root.js';
import { openBuilder } from '../builder/open.js';
import { pullImage } from '../registry/pull.js';
import { pushImage } from '../registry/push.js';
import { parseReference } from '../image/reference.js';
import type { Credentials, CredentialLookup } from '../registry/types.js';
import type { ServerBackend } from './backend.js';
import { createImageBackend } from './image-backend.js';
import { transferMessage } from './transfer-progress.js';
import { registryHost, type AuthConfig } from './registry-auth.js';
import { createContainerBackend } from './container-backend.js';

export interface LocalBackendOptions {
  root: string;
  /** Steps executed at once across all builds (default: the CPU count). */
  stepConcurrency?: number;
}

/**
 * Credentials for a push or pull: only what the client sent (X-Registry-Auth), never the server's own logins,
 * so one client cannot push with another's or the server's rights.
 */
export function clientCredentials(auth: AuthConfig | undefined): CredentialLookup {
  return async (registry) => {
    if (!auth?.username && !auth?.identitytoken) return undefined;
    if (auth.serveraddress && registryHost(auth.serveraddress) !== registry && !(registry === 'docker.io' && /docker\.io$/.test(registryHost(auth.serveraddress)))) return undefined;
    const c: Credentials = { username: auth.username ?? '<token>', password: auth.password ?? auth.identitytoken ?? '' };
    return c;
  };
}

/** Opens the root and returns a backend over it; `close()` releases the builder and the root's temp dir. */
export async function createLocalBackend(opts: LocalBackendOptions): Promise<ServerBackend> {
  const root = await openRoot(opts.root);
  const builder = await openBuilder(root.root, { root, concurrency: opts.stepConcurrency });
  return {
    tmpDir: root.tmpDir,
    images: createImageBackend(root),
    build: (o) => builder.build(o),
    registry: {
      async pull(ref, o) {
        const r = await pullImage(root, ref, {
          platform: o.platform,
          signal: o.signal,
          credentials: clientCredentials(o.auth),
          onProgress: (ev) => {
            if (ev.type === 'resolved') o.onProgress?.({ status: `Pulling from ${ref.replace(/[:@][^/]*$/, '')}`, id: parseReference(ref).tag ?? 'latest' });
            const m = transferMessage(ev, 'pull');
            if (m) o.onProgress?.(m);
          },
        });
        return { ref: r.ref, digest: r.digest };
      },
      async push(ref, o) {
        const r = await pushImage(root, ref, {
          signal: o.signal,
          credentials: clientCredentials(o.auth),
          onProgress: (ev) => {
            const m = transferMessage(ev, 'push');
            if (m) o.onProgress?.(m);
          },
        });
        return { tag: r.tag ?? parseReference(ref).tag ?? 'latest', digest: r.digest, size: r.size };
      },
    },
    containers: createContainerBackend(root),
    async close() {
      await builder.close();
      await root.close();
    },
  };
}
