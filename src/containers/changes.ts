/**
 * `docker diff` (`GET /containers/{id}/changes`): what a container changed relative to its image, read from its
 * writable upper dir the way dockerd's overlay2 driver reads it (moby's `archive.OverlayChanges`): a whiteout
 * (char device 0:0) or an opaque directory is a deletion, an entry that also exists in a lower layer is a
 * modification (a directory only when its size, mode or mtime differ), anything else an addition; the parent of an
 * addition or deletion is listed as modified once. Order: a sorted walk, as filepath.Walk visits.
 * Works without a mount, on running and stopped containers alike.
 */
import { lstatSync, readdirSync, type BigIntStats } from 'node:fs';
import { posix } from 'node:path';
import { getXattrs } from '../native/fsx.js';
import { resolveInRootSync } from '../paths/in-root.js';
import { rootfsLayers, withFrozen } from './container-root.js';
import type { ContainerRecord } from './containers.js';

/** Docker's change kinds. */
export const ChangeKind = { Modified: 0, Added: 1, Deleted: 2 } as const;

export interface ContainerChange {
  Path: string;
  Kind: 0 | 1 | 2;
}

function isWhiteout(st: BigIntStats): boolean {
  return st.isCharacterDevice() && st.rdev === 0n;
}

function isOpaque(abs: string): boolean {
  return getXattrs(abs)?.['trusted.overlay.opaque']?.toString() === 'y';
}

/** moby's sameFsTime: equal seconds, and equal nanoseconds unless either has none. */
function sameTime(a: BigIntStats, b: BigIntStats): boolean {
  const [as, an] = [a.mtimeNs / 1_000_000_000n, a.mtimeNs % 1_000_000_000n];
  const [bs, bn] = [b.mtimeNs / 1_000_000_000n, b.mtimeNs % 1_000_000_000n];
  return as === bs && (an === bn || an === 0n || bn === 0n);
}

/**
 * The changes of container `rec` (see the module comment). A running container is frozen while its upper dir is
 * read, so it cannot swap a directory for a symlink to a host path under the walk.
 */
export function containerChanges(root: string, rec: ContainerRecord): Promise<ContainerChange[]> {
  return withFrozen(root, rec, async () => upperChanges(rec));
}

/**
 * Mount points kiln creates in the writable layer when the image lacks them (sandbox/mount-points.ts); dockerd keeps
 * its own in an init layer below the container's, so `docker diff` never lists them.
 */
const RUNTIME_STUBS = new Set(['/dev', '/proc', '/sys', '/etc/hosts', '/etc/hostname', '/etc/resolv.conf']);

function isStub(abs: string, path: string, f: BigIntStats): boolean {
  if (!RUNTIME_STUBS.has(path)) return false;
  if (f.isFile()) return f.size === 0n;
  return f.isDirectory() && readdirSync(abs).length === 0;
}

function upperChanges(rec: ContainerRecord): ContainerChange[] {
  const { upper, lowers } = rootfsLayers(rec.spec.rootfs);
  const changes: ContainerChange[] = [];
  const changedDirs = new Set<string>();
  // Lower layers come from an image: their symlinks are followed inside the layer, never on the host.
  const inLower = (path: string) => lowers.some((l) => resolveInRootSync(l, path, { followFinal: false }).stat);
  /** A directory copied up only to hold runtime stubs: unchanged in what the container did. */
  const onlyStubs = (abs: string, path: string, f: BigIntStats) =>
    f.isDirectory() &&
    readdirSync(abs).every((n) => {
      const p = path === '/' ? `/${n}` : `${path}/${n}`;
      return !inLower(p) && isStub(`${abs}/${n}`, p, lstatSync(`${abs}/${n}`, { bigint: true }));
    });

  const visit = (abs: string, path: string): void => {
    const f = lstatSync(abs, { bigint: true });
    if (!inLower(path) && isStub(abs, path, f)) return;
    let kind: ContainerChange['Kind'] | undefined;
    if (isWhiteout(f) || (f.isDirectory() && isOpaque(abs))) kind = ChangeKind.Deleted;
    else {
      kind = ChangeKind.Added;
      for (const layer of lowers) {
        // As moby: os.Stat, following a symlink in the lower layer (here: within it).
        const r = resolveInRootSync(layer, path);
        const st = r.stat && lstatSync(r.path, { bigint: true, throwIfNoEntry: false });
        if (!st) continue;
        // A directory is listed only when it changed itself (its size, mode or mtime), or below as a parent.
        const same = st.isDirectory() && f.isDirectory() && f.mode === st.mode && ((f.size === st.size && sameTime(f, st)) || onlyStubs(abs, path, f));
        kind = same ? undefined : ChangeKind.Modified;
        break;
      }
    }
    if (kind !== undefined) {
      if (f.isDirectory()) changedDirs.add(path);
      if (kind === ChangeKind.Added || kind === ChangeKind.Deleted) {
        const parent = posix.dirname(path);
        if (!changedDirs.has(parent) && parent !== '/') {
          changes.push({ Path: parent, Kind: ChangeKind.Modified });
          changedDirs.add(parent);
        }
      }
      changes.push({ Path: path, Kind: kind });
    }
    if (f.isDirectory()) walk(abs, path);
  };

  const walk = (absDir: string, dir: string): void => {
    for (const name of readdirSync(absDir).sort()) visit(`${absDir}/${name}`, dir === '/' ? `/${name}` : `${dir}/${name}`);
  };
  walk(upper, '/');
  return changes;
}
