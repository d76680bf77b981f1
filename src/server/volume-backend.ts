/**
 * The server's volumes (`/volumes`) over the state root's volume store, as dockerd's local driver answers them.
 * Anonymous volumes carry dockerd's `com.docker.volume.anonymous` label in what clients see (API 1.42 prunes by it),
 * computed from the record rather than stored, so volumes made by older kiln versions show it too.
 */
import { KilnError } from '../errors.js';
import { openVolumeStore, volumeUsers } from '../containers/volume-users.js';
import type { VolumeRecord } from '../containers/volumes.js';
import type { VolumeBackend, VolumeInspect } from './backend.js';
import { volumeListFilter, volumePruneFilter, type VolumeFacts } from './volume-filters.js';

/** dockerd's label on volumes it created for a container (`-v /data`, an image VOLUME). */
export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';

function labelsOf(v: VolumeRecord): Record<string, string> {
  return { ...(v.labels ?? {}), ...(v.anonymous ? { [ANONYMOUS_LABEL]: '' } : {}) };
}

/** A record as dockerd's volume JSON. */
export function volumeInspect(v: VolumeRecord): VolumeInspect {
  return {
    CreatedAt: v.createdAt,
    Driver: v.driver,
    Labels: labelsOf(v),
    Mountpoint: v.mountpoint,
    Name: v.name,
    // dockerd answers {} for a volume made without driver options (the CLI sends an empty map).
    Options: v.options ?? {},
    Scope: 'local',
  };
}

function stringMap(v: unknown, field: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string'))
    throw new KilnError('INVALID_ARGUMENT', `${field} must be an object of strings`);
  return { ...(v as Record<string, string>) };
}

export function createVolumeBackend(root: string): VolumeBackend {
  const store = openVolumeStore(root);
  const facts = (v: VolumeRecord, users: Map<string, string[]>): VolumeFacts => ({
    name: v.name,
    driver: v.driver,
    labels: labelsOf(v),
    anonymous: v.anonymous,
    inUse: (users.get(v.name)?.length ?? 0) > 0,
  });
  return {
    async list({ filters }) {
      const keep = volumeListFilter(filters ?? new Map());
      const users = await volumeUsers(root);
      return (await store.list()).filter((v) => keep(facts(v, users))).map(volumeInspect);
    },
    async create(spec) {
      if (spec.Name !== undefined && spec.Name !== null && typeof spec.Name !== 'string') throw new KilnError('INVALID_ARGUMENT', 'Name must be a string');
      // dockerd's anonymous label marks the volume anonymous (pruned by default); kiln keeps that as a flag.
      const { [ANONYMOUS_LABEL]: anon, ...labels } = stringMap(spec.Labels, 'Labels') ?? {};
      const v = await store.create(spec.Name || undefined, {
        driver: spec.Driver ?? undefined,
        driverOpts: stringMap(spec.DriverOpts, 'DriverOpts') ?? null,
        labels,
        anonymous: anon !== undefined,
      });
      return volumeInspect(v);
    },
    async inspect(name) {
      return volumeInspect(await store.inspect(name));
    },
    async remove(name, opts) {
      // As dockerd: force forgives a missing volume, never one in use (the store's own force is for rm -v).
      await store.inspect(name).then(
        () => store.remove(name),
        (err: unknown) => {
          if (!(opts?.force && err instanceof KilnError && err.code === 'VOLUME_NOT_FOUND')) throw err;
        },
      );
    },
    async usage() {
      const users = await volumeUsers(root);
      const out: VolumeInspect[] = [];
      for (const v of await store.list()) {
        const size = await store.size(v.name).catch(() => -1);
        out.push({ ...volumeInspect(v), UsageData: { Size: size, RefCount: users.get(v.name)?.length ?? 0 } });
      }
      return out;
    },
    async prune({ filters, onlyAnonymous }) {
      const keep = volumePruneFilter(filters ?? new Map(), { onlyAnonymous });
      const users = await volumeUsers(root);
      const deleted: string[] = [];
      let space = 0;
      for (const v of await store.list()) {
        if (!keep(facts(v, users))) continue;
        const size = await store.size(v.name).catch(() => 0);
        // A container created since the list is refused here (remove checks again), and the volume kept.
        const removed = await store.remove(v.name).then(
          () => true,
          (err: unknown) => {
            if (err instanceof KilnError && (err.code === 'VOLUME_IN_USE' || err.code === 'VOLUME_NOT_FOUND')) return false;
            throw err;
          },
        );
        if (!removed) continue;
        deleted.push(v.name);
        space += size;
      }
      return { VolumesDeleted: deleted, SpaceReclaimed: space };
    },
  };
}
