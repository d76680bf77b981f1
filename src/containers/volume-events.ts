/**
 * dockerd's volume `mount` and `unmount` events, one per volume a container mounts, as it starts and once it has
 * stopped. Attributes as dockerd's: driver, container, and for mount the destination, read/write and propagation.
 */
import { emitEvent } from '../events/events.js';
import type { ContainerMount } from '../sandbox/types.js';

export function emitVolumeEvents(root: string, containerId: string, mounts: readonly ContainerMount[], action: 'mount' | 'unmount'): void {
  for (const m of mounts) {
    if (!m.volume) continue;
    const attrs: Record<string, string> = { driver: 'local', container: containerId };
    if (action === 'mount') Object.assign(attrs, { destination: m.target, 'read/write': String(!m.readonly), propagation: '' });
    emitEvent(root, 'volume', action, m.volume, attrs);
  }
}
