/**
 * Mount stubs: runc creates the mount points it needs (/proc, /etc/hosts, a volume's target) inside the rootfs,
 * and on an overlay they land in the upper directory, which the builder turns into a layer. As BuildKit's stub
 * cleaner does, kiln notes which mount points were missing before the run and removes them afterwards if they
 * are still empty.
 */
import { lstat, readdir, rmdir, unlink } from 'node:fs/promises';
import { dirname, relative } from 'node:path';
import { resolveInRoot } from './secure-path.js';

/** Host paths of the topmost missing component of each container path in `targets`. */
export async function findStubs(rootfs: string, targets: string[]): Promise<string[]> {
  const out = new Set<string>();
  await Promise.all(targets.map(async (t) => {
    let p = await resolveInRoot(rootfs, t);
    let topMissing: string | undefined;
    while (relative(rootfs, p) !== '' && !relative(rootfs, p).startsWith('..')) {
      try {
        await lstat(p);
        break;
      } catch {
        topMissing = p;
        p = dirname(p);
      }
    }
    if (topMissing) out.add(topMissing);
  }));
  return [...out];
}

/** Removes `p` if it is an empty file stub (top level only) or a tree of empty directories. */
async function removeIfEmpty(p: string, top = true): Promise<void> {
  let st;
  try { st = await lstat(p); } catch { return; }
  if (st.isDirectory()) {
    for (const name of await readdir(p).catch(() => [] as string[])) await removeIfEmpty(`${p}/${name}`, false);
    await rmdir(p).catch(() => {});
  } else if (top && st.isFile() && st.size === 0) {
    await unlink(p).catch(() => {});
  }
}

/** Removes stubs that are still empty (call while the rootfs is still mounted). */
export async function removeStubs(stubs: string[]): Promise<void> {
  for (const s of stubs) await removeIfEmpty(s);
}
