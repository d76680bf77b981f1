/**
 * A container's mounts leave stubs in its upper dir: the runtime creates a missing mount point (`/run/secrets/x`,
 * a cache dir, `/proc` in a scratch-based rootfs) as an empty file or directory. BuildKit removes those before
 * diffing, so a secret's path or a cache mount's directory never appears in a layer. This does the same: an
 * empty stub that no lower layer has is removed, then its parents while they are empty stubs too, or empty
 * directories overlay only copied up to hold the stub (same owner and mode as below, not opaque).
 */
import type { Stats } from 'node:fs';
import { lstat, readdir, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';

/** Mount points runc itself creates when the rootfs lacks them. */
export const RUNTIME_STUBS = ['/proc', '/sys', '/dev', '/etc/hosts', '/etc/resolv.conf', '/etc/hostname'];

/** The topmost lower layer's entry for `path`, if any layer has one. */
async function inLowers(lowers: string[], path: string): Promise<Stats | undefined> {
  for (const l of lowers) {
    try {
      return await lstat(join(l, path));
    } catch {
      // not in this layer
    }
  }
  return undefined;
}

/** An upper dir that overlay merely copied up to hold a stub: empty, not opaque, same owner and mode as below. */
async function isPlainCopyUp(abs: string, lower: Stats): Promise<boolean> {
  try {
    const st = await lstat(abs);
    if (!st.isDirectory() || !lower.isDirectory() || (await readdir(abs)).length > 0) return false;
    if (st.mode !== lower.mode || st.uid !== lower.uid || st.gid !== lower.gid) return false;
    const { getXattrs } = await import('../exporter/tar/fsx.js');
    return getXattrs(abs)?.['trusted.overlay.opaque'] === undefined;
  } catch {
    return false;
  }
}

async function isEmptyStub(abs: string): Promise<boolean> {
  try {
    const st = await lstat(abs);
    if (st.isDirectory()) return (await readdir(abs)).length === 0;
    return st.isFile() && st.size === 0;
  } catch {
    return false;
  }
}

/**
 * Removes empty mount-point stubs for `targets` (container paths) from `upper` unless a lower layer has them.
 * `lowerDirs` is called only when some stub exists (usually the executor has removed them already).
 */
export async function removeMountStubs(upper: string, lowerDirs: () => Promise<string[]>, targets: string[]): Promise<void> {
  for (const target of targets) {
    let p = posix.normalize(target);
    while (p !== '/' && p !== '.') {
      const abs = join(upper, p);
      if (!(await lstat(abs).then(() => true, () => false))) {
        // Already removed (the executor cleans stubs in the merged view): its copied-up parents may remain.
        p = posix.dirname(p);
        continue;
      }
      const below = await inLowers(await lowerDirs(), p);
      const removable = below ? await isPlainCopyUp(abs, below) : await isEmptyStub(abs);
      if (!removable) break;
      await rm(abs, { recursive: true, force: true });
      p = posix.dirname(p);
    }
  }
}
