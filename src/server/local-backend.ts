/**
 * Wires the server's backend interface to the real kiln of one state root: the image store, the builder
 * (via openBuilder), the registry client and the executor's containers. One builder is shared by
 * every request, so all builds share its cache, its step queue and its in-flight map (identical steps running at
 * once run once).
 */
import { describeLayers } from './ui/image-layers.js';
import { openRoot } from '../cache/root.js';
import { openBuilder } from '../builder/open.js';
import { pullImage } from '../registry/pull.js';
import { pushImage } from '../registry/push.js';
import { createRegistryClient } from '../registry/client.js';
import { parseReference } from '../image/reference.js';
import { IDENTITY_TOKEN_USER, type Credentials, type CredentialLookup } from '../registry/types.js';
import type { ServerBackend } from './backend.js';
import { createImageBackend, createSystemBackend } from './image-backend.js';
import { transferMessage } from './transfer-progress.js';
import { registryHost, type AuthConfig, type RegistryCredentials } from './registry-auth.js';
import { AsyncLocalStorage } from 'node:async_hooks';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createContainerStore } from '../containers/containers.js';
import { followEvents, readEvents } from '../events/events.js';
import type { PullPort } from '../builder/ports.js';
import { parsePlatform } from '../image/platform.js';
import { createContainerBackend } from './container-backend.js';
import { createVolumeBackend } from './volume-backend.js';
import { createNetworkBackend } from './network-backend.js';
import type { RetentionPolicy } from '../history/types.js';

export interface LocalBackendOptions {
  root: string;
  /** Steps executed at once across all builds (default: the CPU count). */
  stepConcurrency?: number;
  /** Retention of build records after each build (`kiln serve --history-max-*`); default: env, then 50 / 48 h / 1 GiB. */
  historyRetention?: RetentionPolicy;
}

/**
 * Credentials for a push or pull: only what the client sent (X-Registry-Auth), never the server's own logins,
 * so one client cannot push with another's or the server's rights.
 */
function clientCredentials(auth: AuthConfig | undefined): CredentialLookup {
  return async (registry) => {
    if (!auth?.username && !auth?.identitytoken) return undefined;
    if (
      auth.serveraddress &&
      registryHost(auth.serveraddress) !== registry &&
      !(registry === 'docker.io' && /docker\.io$/.test(registryHost(auth.serveraddress)))
    )
      return undefined;
    return fromAuthConfig(auth);
  };
}

/** Credentials from an X-Registry-Config map (registry host → AuthConfig); anonymous where it has none. */
function configCredentials(map: RegistryCredentials): CredentialLookup {
  return async (registry) => {
    const a = map[registry] ?? (registry === 'docker.io' ? (map['index.docker.io'] ?? map['registry-1.docker.io']) : undefined);
    if (!a?.username && !a?.identitytoken) return undefined;
    return fromAuthConfig(a);
  };
}

/** An AuthConfig as credentials: an identity token is exchanged as one, never sent as a password. */
function fromAuthConfig(a: AuthConfig): Credentials {
  if (a.identitytoken) return { username: a.username || IDENTITY_TOKEN_USER, password: '', identityToken: a.identitytoken };
  return { username: a.username ?? '', password: a.password ?? '' };
}

/**
 * Waits (at most 15 s) until the RUN containers of cancelled builds have unmounted: the builder rejects on abort
 * while the executor is still tearing its container down, and removing the root's tmp dir under a live mount
 * fails. `kiln run` containers (they have a record) are left alone.
 */
async function settleBuildMounts(containersDir: string): Promise<void> {
  const records = new Set(
    (
      await createContainerStore({ root: dirname(containersDir) })
        .list()
        .catch(() => [])
    ).map((c) => c.id),
  );
  for (let i = 0; i < 150; i++) {
    const text = await readFile('/proc/mounts', 'utf8').catch(() => '');
    const busy = text
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((p) => p.startsWith(`${containersDir}/`) && !records.has(p.slice(containersDir.length + 1).split('/')[0]!));
    if (busy.length === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Opens the root and returns a backend over it; `close()` releases the builder and the root's temp dir. */
export async function createLocalBackend(opts: LocalBackendOptions): Promise<ServerBackend> {
  const root = await openRoot(opts.root);
  // Each build's X-Registry-Config, visible to its FROM pulls (which run inside its async call chain).
  const buildCreds = new AsyncLocalStorage<RegistryCredentials>();
  const registry: PullPort = {
    async pull(ref, o) {
      await pullImage(root, ref, {
        platform: o.platform,
        signal: o.signal,
        credentials: configCredentials(buildCreds.getStore() ?? {}),
        onProgress: (ev) => {
          if (ev.type === 'blob' && ev.kind === 'layer' && ev.status === 'done') o.onStatus?.(`${ev.digest.slice(7, 19)} pulled`);
        },
      });
      return root.images.resolve(ref, { platform: o.platform ? parsePlatform(o.platform) : undefined });
    },
  };
  const builder = await openBuilder(root.root, { root, concurrency: opts.stepConcurrency, registry });
  return {
    tmpDir: root.tmpDir,
    historyRoot: root.root,
    images: createImageBackend(root),
    // The client's X-Registry-Config serves its FROM pulls (through `buildCreds`) and its cache import/export.
    build: ({ registryAuth, ...o }) =>
      buildCreds.run(registryAuth ?? {}, () =>
        builder.build({
          ...o,
          registryCredentials: configCredentials(registryAuth ?? {}),
          ...(opts.historyRetention && !o.historyRetention ? { historyRetention: opts.historyRetention } : {}),
        }),
      ),
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
      async login(auth, o) {
        const registry = auth.serveraddress ? registryHost(auth.serveraddress).replace(/^index\.docker\.io$/, 'docker.io') : 'docker.io';
        const client = createRegistryClient({ credentials: clientCredentials({ ...auth, serveraddress: undefined }) });
        try {
          await client.ping(registry, o?.signal);
        } finally {
          client.close();
        }
      },
    },
    containers: createContainerBackend(root),
    volumes: createVolumeBackend(root.root),
    networks: createNetworkBackend(root.root),
    system: createSystemBackend(root),
    imageLayers: (digest, o) => describeLayers(root.content, digest, o),
    events: { read: (o) => readEvents(root.root, o), follow: (onEvent, o) => followEvents(root.root, onEvent, o) },
    async close() {
      await settleBuildMounts(root.paths.containers);
      await builder.close();
      await root.close();
    },
  };
}
