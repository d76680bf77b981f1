/**
 * Chooses a container's network namespace. `host` shares the host's; `none` is a fresh namespace with only
 * loopback (runc brings `lo` up); `bridge` joins kiln's bridge (bridge.ts); `default` is what a builder RUN step
 * gets: the host network, as BuildKit's OCI worker without CNI, because a bridge costs ~170 ms a step.
 */
import type { NetworkMode } from './types.js';

export interface NetworkAttachment {
  /** What the runtime spec gets. */
  ns: 'host' | 'new' | { path: string };
  ip?: string;
  /** Removes the namespace, veth and address lease; safe to call twice. */
  release(): Promise<void>;
}

export interface NetworkContext {
  root: string;
  id: string;
  signal?: AbortSignal;
}

/** Sets up the network for one container. */
export async function attachNetwork(mode: NetworkMode | undefined, ctx: NetworkContext): Promise<NetworkAttachment> {
  switch (mode ?? 'default') {
    case 'host':
    case 'default':
      return { ns: 'host', release: async () => {} };
    case 'none':
      return { ns: 'new', release: async () => {} };
    case 'bridge': {
      const { attachBridge } = await import('./bridge.js');
      return attachBridge(ctx);
    }
  }
}
