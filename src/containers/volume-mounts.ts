/**
 * How a volume becomes a container mount. A plain volume is a bind of its `_data` directory, populated from the
 * image on first use (unless `nocopy`); a tmpfs volume (driver opts `type=tmpfs`) is a fresh tmpfs for each
 * container; a bind volume (`type=none,o=bind,device=…`) binds its device. `--volumes-from` copies another
 * container's volume and bind mounts, at the same destinations.
 */
import { lstat } from 'node:fs/promises';
import { KilnError } from '../errors.js';
import type { ContainerMount } from '../sandbox/types.js';
import type { ContainerRecord, ContainerStore } from './containers.js';
import { parseVolumesFrom } from './run-config.js';
import { parseDriverOpts } from './volume-opts.js';
import type { VolumeRecord } from './volumes.js';

/** The mount for volume `rec` at `v.target`. Throws INVALID_ARGUMENT when a bind volume's device is gone. */
export async function volumeMount(rec: VolumeRecord, v: { target: string; readonly: boolean; nocopy?: boolean }): Promise<ContainerMount> {
  const backing = parseDriverOpts(rec.options);
  if (backing.kind === 'tmpfs') {
    const readonly = v.readonly || backing.options.includes('ro');
    return { type: 'tmpfs', target: v.target, readonly, options: backing.options.filter((x) => x !== 'ro' && x !== 'rw'), volume: rec.name };
  }
  if (backing.kind === 'bind') {
    const st = await lstat(backing.device).catch(() => undefined);
    if (!st?.isDirectory()) throw new KilnError('INVALID_ARGUMENT', `volume ${rec.name}: its device ${backing.device} is not a directory (or is gone)`);
    return { type: 'bind', source: backing.device, target: v.target, readonly: v.readonly || backing.readonly, copyUp: !v.nocopy, volume: rec.name };
  }
  return { type: 'bind', source: rec.mountpoint, target: v.target, readonly: v.readonly, copyUp: !v.nocopy, volume: rec.name };
}

/**
 * `--volumes-from`: the volumes and binds of each named container (not its --tmpfs mounts), at their destinations,
 * read-only or read-write as there unless `:ro`/`:rw` says otherwise. Destinations in `taken` (an explicit -v) and
 * those an earlier container gave are skipped, as dockerd's. The volumes are shared, never anonymous to the new
 * container (its `rm -v` leaves them). Throws CONTAINER_NOT_FOUND.
 */
export async function volumesFromMounts(
  containers: Pick<ContainerStore, 'get'>,
  specs: readonly string[],
  taken: ReadonlySet<string>,
): Promise<{ mounts: ContainerMount[]; volumes: ContainerRecord['volumes'] }> {
  const mounts: ContainerMount[] = [];
  const volumes: ContainerRecord['volumes'] = [];
  const seen = new Set(taken);
  for (const spec of specs) {
    const { container, mode } = parseVolumesFrom(spec);
    const src = await containers.get(container);
    for (const m of src.spec.mounts ?? []) {
      if (m.type !== 'bind' && !(m.type === 'tmpfs' && m.volume)) continue;
      if (seen.has(m.target)) continue;
      seen.add(m.target);
      const readonly = mode === undefined ? Boolean(m.readonly) : mode === 'ro';
      // Already populated by the container that created it: no copy-up here.
      const { copyUp: _copyUp, ...rest } = m;
      mounts.push({ ...rest, readonly });
      if (m.volume && !volumes.some((x) => x.name === m.volume)) volumes.push({ name: m.volume, anonymous: false });
    }
  }
  return { mounts, volumes };
}
