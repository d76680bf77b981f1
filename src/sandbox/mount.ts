/**
 * Performs the mounts that the snapshotter hands out as data (containerd's split: snapshotters describe, the
 * executor mounts). Mounts go through mount(2)/umount2(2) in kiln's native addon (native/fsx.c): a
 * util-linux `mount(8)` + `umount(8)` pair of child processes cost ~20 ms per COPY/RUN step here. Options the
 * addon path does not translate (relative lower dirs under `Mount.cwd`, flag words other than the common ones)
 * and a missing addon fall back to `mount(8)`.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { isAbsolute, join, normalize, resolve } from 'node:path';
import type { Mount } from '../cache/types.js';
import { KilnError } from '../errors.js';
import { nativeMount, type NativeMount } from '../native/fsx.js';
import { tool } from './tool.js';

// Linux ABI constants (include/uapi/linux/mount.h).
const MS_RDONLY = 1;
const MS_NOSUID = 2;
const MS_NODEV = 4;
const MS_NOEXEC = 8;
const MS_REMOUNT = 32;
const MS_BIND = 4096;
const MS_REC = 16384;
const MNT_DETACH = 2;

/** The flag words mount(8) would turn into MS_* bits that the native path handles; others fall back to it. */
const FLAG_WORDS = new Map<string, number>([
  ['ro', MS_RDONLY],
  ['rw', 0],
  ['nosuid', MS_NOSUID],
  ['nodev', MS_NODEV],
  ['noexec', MS_NOEXEC],
  ['bind', MS_BIND],
  ['rbind', MS_BIND | MS_REC],
]);

/** What one `Mount` becomes for mount(2): a bind (then a read-only/nosuid… remount if asked) or a typed mount. */
export interface SyscallMount {
  bind: boolean;
  /** MS_* bits; for a bind, those of the remount that follows (0: none). */
  flags: number;
  /** The file system's option string (`lowerdir=…,upperdir=…`), `null` when there is none. */
  data: string | null;
}

/**
 * Translates `m` into mount(2) arguments the way mount(8) would, or returns `undefined` when only mount(8)
 * should do it: relative lower dirs (`cwd`) or a flag word outside FLAG_WORDS (`rprivate`, `strictatime`…).
 */
export function syscallMount(m: Mount): SyscallMount | undefined {
  if (m.cwd) return undefined;
  let flags = 0;
  const data: string[] = [];
  for (const o of m.options) {
    const bit = FLAG_WORDS.get(o);
    if (bit !== undefined) flags |= bit;
    else if (o.includes('=')) data.push(o);
    else return undefined;
  }
  const bind = m.type === 'bind' || (flags & MS_BIND) !== 0;
  if (bind) return { bind, flags: flags & ~(MS_BIND | MS_REC), data: null };
  return { bind, flags, data: data.length ? data.join(',') : null };
}

/** Mounts `m` on `dest` through mount(2); false when `m` needs mount(8). Throws MOUNT_FAILED on an errno. */
async function mountNative(sys: NativeMount, m: Mount, dest: string): Promise<boolean> {
  const call = syscallMount(m);
  if (!call) return false;
  const fail = (err: unknown): never => {
    const e = err as NodeJS.ErrnoException;
    throw new KilnError('MOUNT_FAILED', `mount ${m.type} ${m.source} on ${dest}: ${e.code ?? ''} ${e.message ?? String(err)}`.trim(), { cause: err });
  };
  if (!call.bind) {
    try {
      await sys.mount(m.source, dest, m.type, call.flags, call.data);
    } catch (err) {
      fail(err);
    }
    return true;
  }
  const rec = m.options.includes('rbind') ? MS_REC : 0;
  try {
    await sys.mount(m.source, dest, 'none', MS_BIND | rec, null);
  } catch (err) {
    fail(err);
  }
  // A bind ignores flags on the first call; mount(8) applies `ro` and friends with a remount, as here.
  if (call.flags) {
    try {
      await sys.mount('none', dest, 'none', MS_REMOUNT | MS_BIND | call.flags, null);
    } catch (err) {
      await sys.umount2(dest, MNT_DETACH).catch(() => {});
      fail(err);
    }
  }
  return true;
}

/** Linux's limit on the data page handed to mount(2); overlay options beyond it fail with a confusing EINVAL. */
const MAX_MOUNT_DATA = 4095;

/** Where a mount goes: `target` (the rootfs) when `m.target` is unset, else `target/m.target`. */
function mountPoint(m: Mount, target: string): string {
  if (!m.target || m.target === '/') return resolve(target);
  const inner = normalize('/' + m.target);
  return join(resolve(target), inner);
}

/** Turns a Mount into `mount(8)` arguments. Bind mounts become `--bind`/`--rbind`; `ro` on a bind is kept. */
function mountArgs(m: Mount, dest: string): string[] {
  const opts = [...m.options];
  const bind = m.type === 'bind' || opts.includes('bind') || opts.includes('rbind');
  if (bind) {
    const data = opts.filter((o) => o !== 'bind' && o !== 'rbind');
    const flag = opts.includes('rbind') ? 'rbind' : 'bind';
    return ['-o', [flag, ...data].join(','), m.source, dest];
  }
  const args = ['-t', m.type];
  if (opts.length) args.push('-o', opts.join(','));
  args.push(m.source, dest);
  return args;
}

/**
 * Mounts `mounts` in order under `target` (creating mount points). A mount without `target` is the root and
 * lands on `target` itself. If one fails, the ones already made are unmounted before MOUNT_FAILED is thrown,
 * so a failed call leaves nothing mounted.
 */
export async function mountAll(mounts: Mount[], target: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
  const done: string[] = [];
  try {
    for (const m of mounts) {
      opts.signal?.throwIfAborted();
      const dest = mountPoint(m, target);
      const data = m.options.join(',');
      if (data.length > MAX_MOUNT_DATA) {
        throw new KilnError('MOUNT_FAILED', `mount ${m.type} on ${dest}: options are ${data.length} bytes, over the kernel's ${MAX_MOUNT_DATA}`, {
          hint: 'use shorter layer directory names (or symlinks) for deep images',
        });
      }
      await mkdir(dest, { recursive: true });
      const sys = nativeMount();
      if (sys && (await mountNative(sys, m, dest))) {
        done.push(dest);
        continue;
      }
      // Deep overlay stacks name their lower dirs relative to `m.cwd` (the 4 KiB option limit).
      const r = await tool('mount', mountArgs(m, dest), { cwd: m.cwd });
      if (r.code !== 0) {
        throw new KilnError('MOUNT_FAILED', `mount ${m.type} ${m.source} on ${dest}: ${r.stderr.trim() || `exit ${r.code}`}`);
      }
      done.push(dest);
    }
  } catch (err) {
    for (const dest of done.reverse()) await unmountAll(dest).catch(() => {});
    throw err;
  }
}

/**
 * Unmounts what `mountAll(mounts, target)` mounted, in reverse, with one umount(8) call (hot path: after every
 * RUN step; scanning mountinfo costs more than the unmount). Falls back to `unmountAll` on any failure.
 */
export async function unmountMounted(mounts: Mount[], target: string): Promise<void> {
  const points = [...new Set(mounts.map((m) => mountPoint(m, target)))].reverse();
  const sys = nativeMount();
  if (sys) {
    try {
      for (const p of points) await sys.umount2(p, 0);
      return;
    } catch {
      return unmountAll(target);
    }
  }
  const r = points.length ? await tool('umount', points) : { code: 0 };
  if (r.code !== 0) await unmountAll(target);
}

/** Unmounts one mount point: native umount2, lazily detached when busy; falls back to umount(8). */
async function unmountOne(p: string): Promise<void> {
  const sys = nativeMount();
  if (sys) {
    try {
      await sys.umount2(p, 0);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EINVAL' || code === 'ENOENT') return; // not (or no longer) a mount point
      try {
        await sys.umount2(p, MNT_DETACH);
        return;
      } catch {}
    }
  }
  const r = await tool('umount', [p]);
  if (r.code !== 0 && !/not mounted|no mount point/i.test(r.stderr)) await tool('umount', ['-l', p]);
}

/** Decodes the octal escapes (`\040` for a space) that /proc/self/mountinfo uses in paths. */
function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount points at or below `dir` in this mount namespace, deepest (latest) first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const base = resolve(dir);
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const found: string[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length < 5) continue;
    const mp = unescapeMountPath(f[4]!);
    if (mp === base || mp.startsWith(base + '/')) found.push(mp);
  }
  // mountinfo lists in mount order; unmounting in reverse undoes stacked mounts too.
  return found.reverse();
}

/**
 * Unmounts everything at or below `target`, deepest first; a path that is not mounted is fine. Busy mounts
 * fall back to a lazy detach so clean-up never wedges. Throws MOUNT_FAILED only if something stays mounted.
 */
export async function unmountAll(target: string): Promise<void> {
  if (!isAbsolute(target)) target = resolve(target);
  for (let round = 0; round < 3; round++) {
    const points = await mountsUnder(target).catch(() => [] as string[]);
    if (points.length === 0) return;
    for (const p of points) await unmountOne(p);
  }
  const left = await mountsUnder(target);
  if (left.length) throw new KilnError('MOUNT_FAILED', `could not unmount ${left.join(', ')}`);
}
