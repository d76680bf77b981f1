/**
 * Mounting a rootfs on the host for the builder's own file operations (COPY, ADD, WORKDIR) and read-only views of
 * stages and images (COPY --from): mount under the build's tmp dir, use, unmount, whatever happens.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Mount } from '../cache/types.js';
import { mountAll, mountsUnder, unmountAll } from '../sandbox/mount.js';
import type { BuildContext } from './build-context.js';

/**
 * Removes `dir` (recursively) unless it is, or has under it, a mount point; returns whether it removed it.
 * A recursive delete must not reach into a mount that failed to go: it could delete a snapshot's files (a bind
 * mount of a committed snapshot, the upper dir of a step about to be committed). Node 20's `rm` happens to stop
 * at a mount point (rmdir says EBUSY before it descends); a depth-first one (`rm -rf`, std::filesystem's
 * remove_all) does not, so this checks instead of relying on it. What is left is found by `openBuilder`'s
 * start-up sweep (src/builder/open.ts), which unmounts what dead builds left under `<root>/tmp`, then removes it.
 * Unreadable mountinfo counts as mounted.
 */
export async function removeUnlessMounted(dir: string): Promise<boolean> {
  const left = await mountsUnder(dir).catch(() => ['?']);
  if (left.length) return false;
  await rm(dir, { recursive: true, force: true });
  return true;
}

/** Mounts `mounts` at a fresh directory, runs `fn(dir)`, unmounts and removes the directory (if unmounted). */
export async function withMounted<T>(ctx: BuildContext, mounts: Mount[], fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = join(ctx.tmpDir, `mnt-${randomBytes(6).toString('hex')}`);
  await mkdir(dir, { recursive: true });
  try {
    if (mounts.length) await mountAll(mounts, dir, { signal: ctx.signal });
    return await fn(dir);
  } finally {
    await unmountAll(dir).catch(() => {});
    // Still mounted (unmounting failed): left for the start-up sweep rather than deleted through the mount.
    await removeUnlessMounted(dir).catch(() => false);
  }
}

/** A read-only view of a committed snapshot, mounted lazily once and released by `close()`. */
export interface LazyView {
  dir(): Promise<string>;
  close(): Promise<void>;
}

export function lazyView(ctx: BuildContext, snapshot: () => Promise<string | undefined>): LazyView {
  let mounted: Promise<string> | undefined;
  let key: string | undefined;
  let path: string | undefined;
  return {
    dir() {
      mounted ??= (async () => {
        path = join(ctx.tmpDir, `view-${randomBytes(6).toString('hex')}`);
        await mkdir(path, { recursive: true });
        const snap = await snapshot();
        if (snap) {
          key = `view-${randomBytes(8).toString('hex')}`;
          await mountAll(await ctx.deps.snapshotter.view(key, snap), path, { signal: ctx.signal });
        }
        return path;
      })();
      return mounted;
    },
    async close() {
      if (!mounted) return;
      await mounted.catch(() => {});
      if (path) {
        await unmountAll(path).catch(() => {});
        await removeUnlessMounted(path).catch(() => false);
      }
      if (key) await ctx.deps.snapshotter.remove(key).catch(() => {});
    },
  };
}
