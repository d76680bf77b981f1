/**
 * A container's mounts leave stubs in its upper dir: the runtime creates a missing mount point (`/run/secrets/x`,
 * a cache dir, `/proc` in a scratch-based rootfs) as an empty file or directory. BuildKit removes those before
 * diffing, so a secret's path or a cache mount's directory never appears in a layer. This does the same: an
 * empty stub that no lower layer has is removed, then its parents while they are empty stubs too, or empty
 * directories overlay only copied up to hold the stub (same owner and mode as below, not opaque). Nothing is
 * followed: the step may have turned a stub's parent into a symlink to the host.
 */
import { join, posix } from 'node:path';
import { getXattrs, lstatBeneath, removeBeneath, type BeneathStat } from '../native/fsx.js';

/** Mount points runc itself creates when the rootfs lacks them. */
export const RUNTIME_STUBS = ['/proc', '/sys', '/dev', '/etc/hosts', '/etc/resolv.conf', '/etc/hostname'];

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

/**
 * `rel` in `dir`, reached without following a symlink; undefined when missing or when the way there is not plain
 * directories. The upper dir is the step's own work: a stub's parent there may be a symlink it made to a host
 * directory (BuildKit's CVE-2024-23652), and a lower layer may hold any symlink an image shipped.
 */
function statNoFollow(dir: string, rel: string): BeneathStat | undefined {
  try {
    return lstatBeneath(dir, rel) ?? undefined;
  } catch {
    return undefined;
  }
}

/** The topmost lower layer's entry for `rel`, if any layer has one. */
function inLowers(lowers: string[], rel: string): BeneathStat | undefined {
  for (const l of lowers) {
    const st = statNoFollow(l, rel);
    if (st) return st;
  }
  return undefined;
}

/** An upper dir that overlay merely copied up to hold a stub: not opaque, same owner and mode as below (emptiness: rmdir). */
function isPlainCopyUp(upper: string, rel: string, st: BeneathStat, lower: BeneathStat): boolean {
  if ((st.mode & S_IFMT) !== S_IFDIR || (lower.mode & S_IFMT) !== S_IFDIR) return false;
  if (st.mode !== lower.mode || st.uid !== lower.uid || st.gid !== lower.gid) return false;
  try {
    // Reached without following links just above, and no container runs on this upper dir any more.
    return getXattrs(join(upper, rel))?.['trusted.overlay.opaque'] === undefined;
  } catch {
    return false;
  }
}

/** An empty file, or a directory (removed only if empty: rmdir refuses otherwise). */
function isStubKind(st: BeneathStat): boolean {
  const type = st.mode & S_IFMT;
  return type === S_IFDIR || (type === S_IFREG && st.size === 0);
}

/**
 * Removes empty mount-point stubs for `targets` (container paths) from `upper` unless a lower layer has them.
 * `lowerDirs` is called only when some stub exists (usually the executor has removed them already). Every
 * entry is reached from `upper` without following symlinks and removed only if it is still the inode examined.
 */
export async function removeMountStubs(upper: string, lowerDirs: () => Promise<string[]>, targets: string[]): Promise<void> {
  for (const target of targets) {
    let p = posix.normalize(`/${target}`);
    while (p !== '/') {
      const rel = p.slice(1);
      let st: BeneathStat | null;
      try {
        st = lstatBeneath(upper, rel);
      } catch (err) {
        // A parent is missing: go up. A parent is a symlink or a file: this is not a stub kiln's mount left.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          p = posix.dirname(p);
          continue;
        }
        break;
      }
      if (!st) {
        // Already removed (the executor cleans stubs in the merged view): its copied-up parents may remain.
        p = posix.dirname(p);
        continue;
      }
      const below = inLowers(await lowerDirs(), rel);
      const removable = below ? isPlainCopyUp(upper, rel, st, below) : isStubKind(st);
      const isDir = (st.mode & S_IFMT) === S_IFDIR;
      if (!removable || !removeBeneath(upper, rel, isDir, st.dev, st.ino)) break;
      p = posix.dirname(p);
    }
  }
}
