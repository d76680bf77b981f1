/**
 * Performs the mounts that the snapshotter hands out as data (containerd's split: snapshotters describe, the
 * executor mounts). Mounting goes through util-linux `mount(8)` because Node has no mount(2); a mount costs
 * about 9 ms here, so callers mount once per container.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { isAbsolute, join, normalize, resolve } from 'node:path';
import type { Mount } from '../cache/types.js';
import { KilnError } from '../errors.js';
import { tool } from './tool.js';

/** Linux's limit on the data page handed to mount(2); overlay options beyond it fail with a confusing EINVAL. */
const MAX_MOUNT_DATA = 4095;

/** Where a mount goes: `target` (the rootfs) when `m.target` is unset, else `target/m.target`. */
export function mountPoint(m: Mount, target: string): string {
  if (!m.target || m.target === '/') return resolve(target);
  const inner = normalize('/' + m.target);
  return join(resolve(target), inner);
}

/** Turns a Mount into `mount(8)` arguments. Bind mounts become `--bind`/`--rbind`; `ro` on a bind is kept. */
export function mountArgs(m: Mount, dest: string): string[] {
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
  const r = points.length ? await tool('umount', points) : { code: 0 };
  if (r.code !== 0) await unmountAll(target);
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
    for (const p of points) {
      const r = await tool('umount', [p]);
      if (r.code !== 0 && !/not mounted|no mount point/i.test(r.stderr)) await tool('umount', ['-l', p]);
    }
  }
  const left = await mountsUnder(target);
  if (left.length) throw new KilnError('MOUNT_FAILED', `could not unmount ${left.join(', ')}`);
}
