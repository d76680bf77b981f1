/**
 * Start-up clean-up: whatever a crashed kiln left behind (a container still running under runc, mounts, a
 * bundle, cgroups, a network namespace, an address lease) is removed by the next kiln start. A bundle whose
 * owner process (owner.json) still runs belongs to a live kiln or supervisor and is left alone.
 */
import { readdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { listCgroups, removeCgroup } from './cgroup.js';
import { bundleDir, containerDir } from './executor.js';
import { mountsUnder, unmountAll } from './mount.js';
import { ownerAlive, processStartTime } from './owner.js';
import { runcDelete, runcKill, runcState, runcStateDir } from './runc.js';

/** Waits until process `pid` has exited (a zombie counts as exited). */
async function waitGone(pid: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end && (await processStartTime(pid)) !== undefined) await new Promise((r) => setTimeout(r, 20));
}

/**
 * A container waiting to restart has no bundle; if the supervisor that was to restart it died (killed, the host
 * rebooted), nothing will: its record is marked exited (kiln serve's boot starts it again per its policy).
 */
async function settleOrphanedRestart(statePath: string): Promise<void> {
  const state = await readFile(statePath, 'utf8').then(
    (t) => JSON.parse(t) as Record<string, unknown>,
    () => undefined,
  );
  if (state?.status !== 'restarting') return;
  const pid = typeof state.pid === 'number' ? state.pid : 0;
  if (pid && (await processStartTime(pid)) !== undefined) return;
  await writeFile(statePath, JSON.stringify({ ...state, status: 'exited', pid: 0 })).catch(() => {});
}

/**
 * Sweeps of layers above the sandbox (user-defined networks) that run with this one; they register themselves
 * when loaded, since the sandbox may not import them.
 */
const extraSweeps: Array<(root: string) => Promise<void>> = [];

export function addCleanupSweep(fn: (root: string) => Promise<void>): void {
  if (!extraSweeps.includes(fn)) extraSweeps.push(fn);
}

/** A bundle younger than this without owner.json may be in the middle of being created. */
const GRACE_MS = 10_000;

export interface CleanupReport {
  /** Container ids whose leftovers were removed. */
  removed: string[];
}

/** Removes one dead container's runtime leftovers. Keeps `state.json`/logs of a `kiln run` container unless `all`. */
export async function cleanupContainer(root: string, id: string, opts: { all?: boolean } = {}): Promise<void> {
  const init = (await runcState(root, id).catch(() => undefined))?.pid;
  await runcKill(root, id, 'KILL').catch(() => false);
  await runcDelete(root, id).catch(() => {});
  await removeCgroup(root, id).catch(() => {});
  // The rootfs directory stays busy (EBUSY on rmdir) while the container's mount namespace lives.
  if (init) await waitGone(init, 5000);
  const bundle = bundleDir(root, id);
  const { releaseStaleNetwork } = await import('./bridge.js');
  await releaseStaleNetwork(root, id).catch(() => {});
  for (let attempt = 0; ; attempt++) {
    await unmountAll(bundle).catch(() => {});
    try {
      if ((await mountsUnder(bundle)).length) throw Object.assign(new Error(`${bundle} is still mounted`), { code: 'EBUSY' });
      await rm(bundle, { recursive: true, force: true });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EBUSY' || attempt >= 20) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  if (opts.all) await rm(containerDir(root, id), { recursive: true, force: true });
  else await rmdir(containerDir(root, id)).catch(() => {});
}

async function isStale(root: string, id: string): Promise<boolean> {
  const bundle = bundleDir(root, id);
  if (await ownerAlive(bundle)) return false;
  try {
    await stat(join(bundle, 'owner.json'));
    return true;
  } catch {
    // No owner record yet: only stale once it is older than the grace period.
    const st = await stat(bundle).catch(() => undefined);
    return !st || Date.now() - st.mtimeMs > GRACE_MS;
  }
}

/**
 * Cleans everything left by dead kiln processes under `root`: bundles, their mounts, runc containers, cgroups,
 * network namespaces and leases. A detached container whose supervisor died is marked exited. Call at start.
 */
export async function cleanupStale(root: string): Promise<CleanupReport> {
  const removed: string[] = [];
  const ids = await readdir(join(root, 'containers')).catch(() => [] as string[]);
  const live = new Set<string>();
  for (const id of ids) {
    const hasBundle = await stat(bundleDir(root, id)).then(
      () => true,
      () => false,
    );
    if (!hasBundle) {
      live.add(id);
      await settleOrphanedRestart(join(containerDir(root, id), 'state.json'));
      continue;
    }
    if (!(await isStale(root, id))) {
      live.add(id);
      continue;
    }
    const statePath = join(containerDir(root, id), 'state.json');
    const state = await readFile(statePath, 'utf8').then(
      (t) => JSON.parse(t) as Record<string, unknown>,
      () => undefined,
    );
    try {
      await cleanupContainer(root, id, { all: Boolean(state?.autoRemove) || !state });
    } catch {
      // Still busy: the next start tries again. Start-up clean-up never fails the command.
      live.add(id);
      continue;
    }
    if (state?.autoRemove) {
      // A `--rm` container's anonymous volumes go with it, as they would have at a normal exit.
      const vols = (state.volumes as Array<{ name: string; anonymous: boolean }> | undefined) ?? [];
      for (const v of vols.filter((x) => x.anonymous)) await rm(join(root, 'volumes', v.name), { recursive: true, force: true });
    }
    if (state && !state.autoRemove) {
      live.add(id);
      if (state.status === 'running' || state.status === 'created') {
        await writeFile(statePath, JSON.stringify({ ...state, status: 'exited', exitCode: 255, finishedAt: new Date().toISOString(), pid: 0 }));
      }
    }
    removed.push(id);
  }
  // runc containers and cgroups with no live bundle (a crash between steps of clean-up).
  // runc keeps one directory per container in its state dir; reading it saves spawning `runc list` (hot: every start).
  for (const id of await readdir(runcStateDir(root)).catch(() => [] as string[])) {
    // Not just the ids seen above: another process may have started this container since.
    const hasBundle = await stat(bundleDir(root, id)).then(
      () => true,
      () => false,
    );
    if (hasBundle && (live.has(id) || !(await isStale(root, id)))) continue;
    await runcKill(root, id, 'KILL').catch(() => false);
    await runcDelete(root, id);
    if (!removed.includes(id)) removed.push(id);
  }
  for (const id of await listCgroups(root)) {
    if (
      await stat(bundleDir(root, id)).then(
        () => true,
        () => false,
      )
    )
      continue;
    await removeCgroup(root, id);
    if (!removed.includes(id)) removed.push(id);
  }
  const { sweepNetwork } = await import('./bridge.js');
  await sweepNetwork(root, (id) =>
    stat(bundleDir(root, id)).then(
      () => true,
      () => false,
    ),
  ).catch(() => {});
  for (const sweep of extraSweeps) await sweep(root).catch(() => {});
  return { removed };
}
