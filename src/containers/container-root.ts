/**
 * A container's merged root filesystem as a host directory, for the file operations of the Docker API (`docker cp`,
 * `export`). A running container's rootfs is already mounted at its bundle's `rootfs`; it is frozen (runc pause,
 * the cgroup freezer) while kiln walks it, so no process of the container can swap a directory for a symlink
 * between kiln's check and its use (the symlink-exchange race of CVE-2018-15664, which Docker closes by chrooting
 * its archiver). A stopped container's snapshot (image layers + its writable upper dir) is mounted on a private
 * directory for the length of the operation and always unmounted after.
 *
 * Volumes and bind mounts are not under the rootfs (runc mounts them inside the container's own mount namespace);
 * `resolveContainerPath` steps into their host directories where a path crosses them, as Docker's `docker cp` does.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rmdir } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Mount } from '../cache/types.js';
import { KilnError } from '../errors.js';
import { resolveInRoot } from '../paths/in-root.js';
import { bundleDir, containerDir } from '../sandbox/executor.js';
import { mountAll, mountsUnder, unmountAll, unmountMounted } from '../sandbox/mount.js';
import { RUNC, runcArgs } from '../sandbox/runc.js';
import { tool } from '../sandbox/tool.js';
import type { ContainerMount } from '../sandbox/types.js';
import type { ContainerRecord } from './containers.js';
import type { Stats } from 'node:fs';

/** The merged root of a container, valid only inside the `withContainerRoot` callback. */
export interface ContainerRootView {
  /** Host directory showing the container's `/` (without its volumes). */
  rootfs: string;
  /** Volumes, binds and tmpfs mounts of the container. */
  mounts: ContainerMount[];
  readonlyRootfs: boolean;
  running: boolean;
}

/** The writable upper dir and the read-only lower dirs (top first, absolute) of a container's rootfs mounts. */
export interface RootfsLayers {
  upper: string;
  lowers: string[];
}

/** Reads the upper and lower dirs out of the rootfs mounts the snapshotter made (an overlay, or a bind of the upper alone). */
export function rootfsLayers(mounts: Mount[]): RootfsLayers {
  const m = mounts[0];
  if (!m || mounts.length !== 1) throw new KilnError('STORE_CORRUPT', 'container rootfs: expected one mount');
  if (m.type === 'bind') return { upper: m.source, lowers: [] };
  const opt = (k: string) => m.options.find((o) => o.startsWith(`${k}=`))?.slice(k.length + 1);
  const upper = opt('upperdir');
  const lower = opt('lowerdir');
  if (m.type !== 'overlay' || !upper || !lower) throw new KilnError('STORE_CORRUPT', 'container rootfs: not an overlay with an upper dir');
  const abs = (p: string) => (p.startsWith('/') ? p : join(m.cwd ?? '/', p));
  return { upper: abs(upper), lowers: lower.split(':').map(abs) };
}

/** `runc pause` / `runc resume`; false when runc (or the cgroup freezer) refuses. */
async function runcFreeze(root: string, id: string, on: boolean): Promise<{ ok: boolean; error: string }> {
  const r = await tool(RUNC, [...runcArgs(root), on ? 'pause' : 'resume', id]);
  return { ok: r.code === 0, error: r.stderr.trim() };
}

/**
 * Containers this process has frozen, with how many operations need them frozen: two `docker cp` at once share one
 * pause, and the last to finish resumes. Per process, as the freezer state is per container.
 */
const frozen = new Map<string, { users: number; ready: Promise<void> }>();

/**
 * Runs `fn` with container `rec` frozen when it runs (and is not paused already); resumes it after, whatever `fn`
 * does. Throws RUNTIME_FAILED when it runs and cannot be frozen.
 */
export async function withFrozen<T>(root: string, rec: ContainerRecord, fn: () => Promise<T>): Promise<T> {
  if (rec.status !== 'running' || rec.paused) return fn();
  let entry = frozen.get(rec.id);
  if (entry) entry.users++;
  else {
    const ready = runcFreeze(root, rec.id, true).then((r) => {
      if (!r.ok) {
        throw new KilnError('RUNTIME_FAILED', `cannot pause container ${rec.id.slice(0, 12)} for a file operation: ${r.error || 'runc pause failed'}`, {
          hint: 'stop the container first',
        });
      }
    });
    entry = { users: 1, ready };
    frozen.set(rec.id, entry);
  }
  const mine = entry;
  try {
    await mine.ready;
    return await fn();
  } finally {
    if (--mine.users === 0) {
      frozen.delete(rec.id);
      if (
        await mine.ready.then(
          () => true,
          () => false,
        )
      )
        await runcFreeze(root, rec.id, false);
    }
  }
}

/**
 * Runs `fn` on the merged root of `rec` (see the module comment). A running container is frozen for the length
 * of `fn`; a stopped one is mounted on `<container dir>/fsview-<random>` and unmounted after, even when `fn` throws.
 */
export async function withContainerRoot<T>(root: string, rec: ContainerRecord, fn: (view: ContainerRootView) => Promise<T>): Promise<T> {
  const base = { mounts: rec.spec.mounts ?? [], readonlyRootfs: Boolean(rec.spec.readonlyRootfs) };
  if (rec.status === 'running') {
    const rootfs = join(bundleDir(root, rec.id), 'rootfs');
    return withFrozen(root, rec, async () => {
      // Starting or stopping: the bundle's mount comes and goes; never read the empty directory under it.
      if (!(await mountsUnder(rootfs)).includes(rootfs)) {
        throw new KilnError('CONTAINER_RUNNING', `container ${rec.id.slice(0, 12)} is starting or stopping`, { hint: 'try again' });
      }
      return fn({ ...base, rootfs, running: true });
    });
  }
  let entry = viewMounts.get(rec.id);
  if (entry) entry.users++;
  else {
    entry = { users: 1, dir: mountView(root, rec) };
    viewMounts.set(rec.id, entry);
  }
  const mine = entry;
  try {
    return await fn({ ...base, rootfs: await mine.dir, running: false });
  } finally {
    if (--mine.users === 0) {
      viewMounts.delete(rec.id);
      const dir = await mine.dir.catch(() => undefined);
      if (dir) await unmountView(rec, dir);
    }
  }
}

/**
 * Stopped containers this process has mounted, with how many operations use each mount: two `docker cp` at once
 * share one mount of the upper dir (overlayfs calls two mounts of one upper dir undefined behaviour).
 */
const viewMounts = new Map<string, { users: number; dir: Promise<string> }>();

/** Mounts a stopped container's rootfs on a private directory; throws CONTAINER_RUNNING when a run is using it. */
async function mountView(root: string, rec: ContainerRecord): Promise<string> {
  // The record may be stale: never mount an upper dir a run is using.
  if ((await mountsUnder(bundleDir(root, rec.id))).length > 0) {
    throw new KilnError('CONTAINER_RUNNING', `container ${rec.id.slice(0, 12)} is starting or stopping`, { hint: 'try again' });
  }
  const dir = join(containerDir(root, rec.id), `fsview-${randomBytes(6).toString('hex')}`);
  await mkdir(dir, { mode: 0o700 });
  try {
    await mountAll(rec.spec.rootfs, dir);
  } catch (err) {
    await rmdir(dir).catch(() => {});
    throw err;
  }
  return dir;
}

async function unmountView(rec: ContainerRecord, dir: string): Promise<void> {
  await unmountMounted(rec.spec.rootfs, dir).catch(() => {});
  await unmountAll(dir).catch(() => {});
  // Never remove a directory that is still a mount point: that would reach into the snapshot.
  if ((await mountsUnder(dir).catch(() => ['?'])).length === 0) await rmdir(dir).catch(() => {});
}

/** A container path resolved to the host. */
export interface ResolvedContainerPath {
  /** Host path (inside the rootfs or inside a volume's directory). */
  host: string;
  /** The path as the container sees it, symlinks resolved. */
  inner: string;
  /** Host directory of the file system holding it (the rootfs, or a volume) and that file system's container path. */
  base: string;
  baseTarget: string;
  stat?: Stats;
  /** On a volume or bind mount (not the rootfs), and whether that mount is read-only. */
  mount?: ContainerMount;
}

/** `/a/b/` and `a/b` → `/a/b`: Docker cleans the request path lexically first (`..` stops at `/`). */
export function cleanContainerPath(p: string): string {
  return posix.normalize(`/${p}`).replace(/(.)\/+$/, '$1');
}

function mountContaining(mounts: ContainerMount[], inner: string): ContainerMount | undefined {
  let best: ContainerMount | undefined;
  for (const m of mounts) {
    const t = cleanContainerPath(m.target);
    if ((inner === t || inner.startsWith(`${t}/`)) && (!best || t.length > cleanContainerPath(best.target).length)) best = m;
  }
  return best;
}

/**
 * Resolves `path` as the container sees it: symlinks followed inside the container's root, never out of it, and
 * into a volume or bind mount where the path crosses its mount point (then symlinks inside it are followed
 * within that mount). `followFinal: false` keeps a final symlink (`docker cp` copies the link itself). A path on
 * a tmpfs mount is refused: its files exist only inside the running container.
 */
export async function resolveContainerPath(view: ContainerRootView, path: string, o: { followFinal: boolean }): Promise<ResolvedContainerPath> {
  const what = JSON.stringify(path.length > 200 ? `${path.slice(0, 200)}…` : path);
  let rest = cleanContainerPath(path).split('/').filter(Boolean);
  let base = view.rootfs;
  let baseTarget = '/';
  let mount: ContainerMount | undefined;
  const enter = (m: ContainerMount, inner: string): void => {
    if (m.type !== 'bind' || !m.source) {
      throw new KilnError('NOT_IMPLEMENTED', `${what} is on a ${m.type} mount (${m.target}), which kiln cannot reach from outside the container`);
    }
    const t = cleanContainerPath(m.target);
    rest = [...posix.relative(t, inner).split('/').filter(Boolean), ...rest];
    base = m.source;
    baseTarget = t;
    mount = m;
  };
  const outer = (r: { inner: string }) => (baseTarget === '/' ? r.inner : posix.join(baseTarget, r.inner));
  if (view.mounts.length > 0) {
    // Each prefix is resolved on its own so the walk never reads the rootfs's files hidden under a mount point.
    for (let i = 1; i <= rest.length; i++) {
      const last = i === rest.length;
      const r = await resolveInRoot(base, rest.slice(0, i).join('/'), { followFinal: !last || o.followFinal, what });
      const inner = outer(r);
      const m = mountContaining(view.mounts, inner);
      if (m && m !== mount) {
        rest = rest.slice(i);
        enter(m, inner);
        i = 0;
      }
    }
  }
  const r = await resolveInRoot(base, rest.join('/'), { followFinal: o.followFinal, what });
  return { host: r.path, inner: outer(r), base, baseTarget, stat: r.stat, mount };
}
