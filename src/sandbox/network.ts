/**
 * Chooses a container's network namespace. `host` shares the host's (granted explicitly: `kiln run --network
 * host`, or a build's network.host entitlement); `none` is a fresh namespace with only loopback (runc brings `lo`
 * up); `bridge` joins kiln's bridge (bridge.ts). `default` is what a builder RUN step gets: the bridge too, as
 * Docker's builders isolate RUN (BuildKit with CNI, dockerd's builder): the step has its own namespace and
 * loopback, reaches out through NAT, and cannot reach services listening on the build host's loopback.
 */
import type { NetworkMode } from './types.js';

export interface NetworkAttachment {
  /** What the runtime spec gets. */
  ns: 'host' | 'new' | { path: string };
  ip?: string;
  /**
   * Removes the namespace, veth and address lease; safe to call twice. `reuse`: the container ended cleanly
   * without extra capabilities, so a pooled namespace may serve the next RUN step (bridge.ts).
   */
  release(o?: { reuse?: boolean }): Promise<void>;
}

export interface NetworkContext {
  root: string;
  id: string;
  signal?: AbortSignal;
}

/** Sets up the network for one container. */
export async function attachNetwork(mode: NetworkMode | undefined, ctx: NetworkContext): Promise<NetworkAttachment> {
  // Made and removed by the caller (src/networks/): joined as is.
  if (typeof mode === 'object') return { ns: { path: mode.path }, ip: mode.ip, release: async () => {} };
  switch (mode ?? 'default') {
    case 'host':
      return { ns: 'host', release: async () => {} };
    case 'none':
      return { ns: 'new', release: async () => {} };
    case 'default': {
      const { attachPooled } = await import('./bridge.js');
      return attachPooled(ctx);
    }
    case 'bridge': {
      const { attachBridge } = await import('./bridge.js');
      return attachBridge(ctx);
    }
  }
}
