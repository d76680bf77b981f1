/**
 * Overlay mount options for a snapshot chain, as data. Pure functions: unit-testable without root.
 *
 * The kernel takes at most one page (4 KiB) of mount options, so a deep stack of absolute lowerdir paths does
 * not fit: then the lower directories are named relative to the directory holding them and the mount carries
 * `cwd` (Docker's overlay2 does the same with its short `l/` names). Beyond what even that fits, or beyond
 * overlayfs's 500-layer stack, the snapshotter flattens the bottom of the chain first (see `maxLowers`).
 */
import { dirname, relative } from 'node:path';
import type { Mount } from './types.js';
import { KilnError } from '../errors.js';

/** Mount data limit, a page minus room for what mount(8) may add (`rw`, a context). */
export const MOUNT_DATA_LIMIT = 3900;
/** overlayfs's OVL_MAX_STACK. */
const OVERLAY_MAX_STACK = 500;

/**
 * Options that keep an upper dir a plain diff: without them a renamed directory becomes a redirect xattr and
 * a chmod a metadata-only copy, which a layer tar cannot express. With index=off the same lower dirs can be
 * shared by many mounts at once.
 */
const OVERLAY_FLAGS = ['index=off', 'redirect_dir=off', 'metacopy=off'];

export interface ChainMountInput {
  /** Lower directories, top first; all must sit in one parent directory for deep stacks. */
  lowers: string[];
  /** Upper and work dirs for a writable root; omitted for a read-only view. */
  upper?: string;
  work?: string;
}

/**
 * The rootfs mounts for a chain: a bind mount when there is nothing to stack (a scratch upper alone, or one
 * read-only layer), else one overlay mount. Throws MOUNT_FAILED when even relative names do not fit (callers
 * flatten first: `maxLowers` says how deep they may go).
 */
export function chainMounts(input: ChainMountInput): Mount[] {
  const { lowers, upper, work } = input;
  if (lowers.length === 0) {
    if (!upper) throw new KilnError('INTERNAL', 'chainMounts: no layers and no upper dir');
    return [{ type: 'bind', source: upper, options: ['rbind', 'rw'] }];
  }
  if (!upper && lowers.length === 1) return [{ type: 'bind', source: lowers[0]!, options: ['rbind', 'ro'] }];
  const tail = upper ? [`upperdir=${upper}`, `workdir=${work}`] : ['ro'];
  const absolute = [`lowerdir=${lowers.join(':')}`, ...tail, ...OVERLAY_FLAGS];
  if (absolute.join(',').length <= MOUNT_DATA_LIMIT) return [{ type: 'overlay', source: 'overlay', options: absolute }];

  const base = dirname(lowers[0]!);
  const names = lowers.map((l) => relative(base, l));
  if (names.some((n) => n.startsWith('..') || n.includes('/')))
    throw new KilnError('INTERNAL', 'chainMounts: deep stacks need all lower dirs in one directory');
  const rel = [`lowerdir=${names.join(':')}`, ...tail, ...OVERLAY_FLAGS];
  const len = rel.join(',').length;
  if (len > MOUNT_DATA_LIMIT || lowers.length > OVERLAY_MAX_STACK) {
    throw new KilnError('MOUNT_FAILED', `overlay of ${lowers.length} layers needs ${len} bytes of mount options (limit ${MOUNT_DATA_LIMIT})`, {
      hint: 'the snapshotter flattens deeper chains; this is a bug',
    });
  }
  return [{ type: 'overlay', source: 'overlay', options: rel, cwd: base }];
}

/**
 * How many lower dirs of `nameLength` characters fit one overlay mount next to an upper and work dir of the
 * given lengths (with relative names), capped by overlayfs's stack limit.
 */
export function maxLowers(nameLength: number, upperLength: number, workLength: number): number {
  const fixed = 'lowerdir='.length + ',upperdir='.length + upperLength + ',workdir='.length + workLength + OVERLAY_FLAGS.join(',').length + 1;
  return Math.min(OVERLAY_MAX_STACK, Math.floor((MOUNT_DATA_LIMIT - fixed + 1) / (nameLength + 1)));
}
