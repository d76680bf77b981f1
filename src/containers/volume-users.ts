/**
 * The volume store with its users wired in: which containers (running or not) name a volume in their record. One
 * place for the CLI and the server, so `rm` of a volume in use is refused the same way by both.
 */
import { createContainerStore } from './containers.js';
import { createVolumeStore, type VolumeStore } from './volumes.js';

/** Volume name → IDs of the containers that use it. */
export async function volumeUsers(root: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const c of await createContainerStore({ root }).list()) {
    for (const v of c.volumes ?? []) out.set(v.name, [...(out.get(v.name) ?? []), c.id]);
  }
  return out;
}

/** A volume store whose `remove` refuses a volume in use (VOLUME_IN_USE, naming the containers' IDs). */
export function openVolumeStore(root: string): VolumeStore {
  return createVolumeStore({ root, inUse: async (name) => (await volumeUsers(root)).get(name) ?? [] });
}
