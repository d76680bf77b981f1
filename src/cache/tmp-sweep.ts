/**
 * Start-up sweep of what dead processes left behind: their `<root>/tmp/<owner>-<id>` scratch dirs, their lease
 * files, half-written `.index.json.tmp-*` / `.oci-layout.tmp-*` files, and the build cache's `*.tmp` record files. Owners are identified by the token
 * in the name (`pid.starttime`), so a live process's files are never touched. Index temp files are only removed
 * under the store lock (their writer holds it), and only if the lock is free right now.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { liveLeasedDigests, STORE_LOCK } from './lease.js';
import { isOwnerAlive, withLock } from './lock.js';
import type { RootPaths } from './root.js';

/** Foreign entries in tmp/ (not named by an owner token) are removed once older than this. */
const FOREIGN_MAX_AGE_MS = 24 * 3600_000;
/** Lease temp files and lock take-over markers exist for microseconds; a minute-old one was abandoned. */
const ABANDONED_MS = 60_000;

/** Removes leftovers of dead processes under `paths`; returns how many entries it removed. */
export async function sweepTemp(
  paths: Pick<RootPaths, 'tmp' | 'leases' | 'locks' | 'oci'> & Partial<Pick<RootPaths, 'gcRoots' | 'buildCache'>>,
): Promise<number> {
  let removed = 0;
  // The build cache writes its GC roots, inputs and slots as `<file>.<owner>.<hex>.tmp` then renames them; a
  // build killed in between leaves the temp file. Dead owners' ones go; so do owner-less ones from older kiln
  // versions once clearly abandoned (those writes take microseconds).
  const cacheDirs = [paths.gcRoots, ...(paths.buildCache ? [join(paths.buildCache, 'inputs'), join(paths.buildCache, 'slots')] : [])];
  for (const dir of cacheDirs) {
    if (!dir) continue;
    for (const n of await readdir(dir).catch(() => [] as string[])) {
      const owned = /\.(\d+\.\d+)\.[0-9a-f]{12}\.tmp$/.exec(n);
      if (owned) {
        if (isOwnerAlive(owned[1]!)) continue;
      } else if (/\.[0-9a-f]{12}\.tmp$/.test(n)) {
        const st = await stat(join(dir, n)).catch(() => undefined);
        if (!st || Date.now() - st.mtimeMs <= ABANDONED_MS) continue;
      } else continue;
      await rm(join(dir, n), { force: true }).then(
        () => removed++,
        () => {},
      );
    }
  }
  const names = await readdir(paths.tmp).catch(() => [] as string[]);
  for (const name of names) {
    const m = /^(\d+\.\d+)-/.exec(name);
    const p = join(paths.tmp, name);
    if (m) {
      if (isOwnerAlive(m[1]!)) continue;
    } else {
      const st = await stat(p).catch(() => undefined);
      if (!st || Date.now() - st.mtimeMs < FOREIGN_MAX_AGE_MS) continue;
    }
    await rm(p, { recursive: true, force: true }).catch(() => {});
    removed++;
  }
  // Dead owners' lease files go as a side effect of reading them; half-written ones (`.x.tmp-…`) and
  // take-over markers (`*.steal`) left by a kill are removed once they are clearly abandoned.
  await liveLeasedDigests(paths.leases);
  for (const [dir, re] of [
    [paths.leases, /^\..*\.tmp-/],
    [paths.locks, /\.steal$/],
  ] as const) {
    for (const n of await readdir(dir).catch(() => [] as string[])) {
      if (!re.test(n)) continue;
      const st = await stat(join(dir, n)).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > ABANDONED_MS) {
        await rm(join(dir, n), { force: true });
        removed++;
      }
    }
  }

  const stray = (await readdir(paths.oci).catch(() => [] as string[])).filter((n) => /^\.(index\.json|oci-layout)\.tmp-/.test(n));
  if (stray.length > 0) {
    await withLock(
      paths.locks,
      STORE_LOCK,
      async () => {
        for (const n of stray) {
          await rm(join(paths.oci, n), { force: true });
          removed++;
        }
      },
      { timeoutMs: 0 },
    ).catch(() => {});
  }
  return removed;
}
