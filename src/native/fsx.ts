/**
 * Loads kiln's native helper (native/fsx.c): extended attributes, mknod and mount(2)/umount2(2), which Node lacks. Built by
 * scripts/setup.sh (`bash native/build.sh`); without it, packing and unpacking layers that carry xattrs or
 * device nodes fails with PRECONDITION and a hint, instead of silently dropping them.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { KilnError } from '../errors.js';

interface FsxBinding {
  lgetxattrs(path: string): Array<[string, Buffer]> | null;
  lsetxattr(path: string, name: string, value: Buffer): void;
  mknod(path: string, mode: number, major: number, minor: number): void;
  devsplit(rdev: number): [number, number];
  /** Absent in addons built before mount support (callers fall back to mount(8)). */
  mount?(source: string, target: string, fstype: string, flags: number, data: string | null): Promise<void>;
  umount2?(target: string, flags: number): Promise<void>;
  lstatBeneath?(root: string, rel: string): BeneathStat | null;
  makeBeneath?(root: string, rel: string, isDir: boolean, mode: number): BeneathStat;
  removeBeneath?(root: string, rel: string, isDir: boolean, dev: bigint, ino: bigint): boolean;
  readBeneath?(root: string, rel: string, maxBytes: number): Buffer | null;
  sealedCopy?(path: string): number;
  scanDir?(dir: string): [string[], Float64Array];
  scanDirAsync?(dir: string): Promise<[string[], Float64Array]>;
  compatAbis?(): [boolean, boolean];
}

/** src/native and dist/native are both two levels below the repository root. */
const ADDON = fileURLToPath(new URL('../../native/build/kiln-fsx.node', import.meta.url));

let binding: FsxBinding | undefined;
let loadError: unknown;

function fsx(): FsxBinding {
  if (binding) return binding;
  if (loadError === undefined) {
    try {
      binding = createRequire(import.meta.url)(ADDON) as FsxBinding;
      return binding;
    } catch (err) {
      loadError = err;
    }
  }
  throw new KilnError('PRECONDITION', `kiln's native helper is missing (${ADDON})`, {
    cause: loadError,
    hint: 'run scripts/setup.sh (or bash native/build.sh)',
  });
}

/** Every extended attribute of `path` (not following a symlink), values byte-exact; `undefined` when none. */
export function getXattrs(path: string): Record<string, Buffer> | undefined {
  const pairs = fsx().lgetxattrs(path);
  if (!pairs) return undefined;
  const out: Record<string, Buffer> = {};
  for (const [k, v] of pairs) out[k] = v;
  return out;
}

/** Sets one extended attribute on `path` itself (not a symlink's target). Throws Node-style errno errors. */
export function setXattr(path: string, name: string, value: Buffer): void {
  fsx().lsetxattr(path, name, value);
}

/** File type bits for `makeNode`. */
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;

/** mknod(2): `mode` is a type (S_IFCHR, S_IFBLK, S_IFIFO) plus permission bits (umask applies). */
export function makeNode(path: string, mode: number, major = 0, minor = 0): void {
  fsx().mknod(path, mode, major, minor);
}

/** Splits a `stat.rdev` into major and minor with the kernel's own encoding. */
export function splitDev(rdev: number): [number, number] {
  return fsx().devsplit(rdev);
}

/** The mount(2)/umount2(2) pair, or `undefined` when the addon is missing or predates them (use mount(8) then). */
export interface NativeMount {
  /**
   * mount(2) on the thread pool: `flags` are MS_* bits, `data` the file system's option string (at most 4095
   * bytes). Rejects with Node-style errno errors.
   */
  mount(source: string, target: string, fstype: string, flags: number, data: string | null): Promise<void>;
  /** umount2(2) on the thread pool (an overlay's unmount syncs its upper dir): `flags` 0 or MNT_DETACH. EINVAL: not a mount point. */
  umount2(target: string, flags: number): Promise<void>;
}

/** The native mount calls if the addon has them; never throws (a missing addon means "use mount(8)"). */
export function nativeMount(): NativeMount | undefined {
  const b = optionalFsx();
  if (!b?.mount || !b.umount2) return undefined;
  return { mount: b.mount.bind(b), umount2: b.umount2.bind(b) };
}

/** What the no-follow calls report of an entry (dev and ino as bigints: overlay inode numbers can exceed 2^53). */
export interface BeneathStat {
  dev: bigint;
  ino: bigint;
  mode: number;
  uid: number;
  gid: number;
  size: number;
}

function beneath(): Required<Pick<FsxBinding, 'lstatBeneath' | 'makeBeneath' | 'removeBeneath' | 'readBeneath'>> {
  const b = fsx();
  if (!b.lstatBeneath || !b.makeBeneath || !b.removeBeneath || !b.readBeneath) {
    throw new KilnError('PRECONDITION', `kiln's native helper (${ADDON}) predates its no-follow calls`, {
      hint: 'run scripts/setup.sh (or bash native/build.sh)',
    });
  }
  return b as Required<FsxBinding>;
}

/**
 * lstat of `rel` (a '/'-separated path relative to `root`) reached from `root` one component at a time, never
 * following a symlink; `null` when the last component is missing. Throws ELOOP (a symlink on the way), ENOTDIR,
 * ENOENT (a missing parent) or EINVAL (a `.` or `..` component) as Node-style errno errors.
 */
export function lstatBeneath(root: string, rel: string): BeneathStat | null {
  return beneath().lstatBeneath(root, rel);
}

/** Creates `rel` under `root` (a directory, or an empty file opened O_EXCL|O_NOFOLLOW), reached no-follow; its stat. */
export function makeBeneath(root: string, rel: string, isDir: boolean, mode: number): BeneathStat {
  return beneath().makeBeneath(root, rel, isDir, mode);
}

/**
 * Removes `rel` under `root`, reached no-follow, only when it is still the inode (`dev`, `ino`) and kind given;
 * a directory only when empty. False when it was not removed for any of these reasons.
 */
export function removeBeneath(root: string, rel: string, isDir: boolean, dev: bigint, ino: bigint): boolean {
  return beneath().removeBeneath(root, rel, isDir, dev, ino);
}

/**
 * The bytes of the regular file `rel` under `root`, reached no-follow and read through the descriptor that was
 * checked; `null` when it is missing. Throws ELOOP/ENOTDIR (a symlink or non-directory on the way), EINVAL (not a
 * regular file: a FIFO or device is never read), EFBIG (larger than `maxBytes`).
 */
export function readBeneath(root: string, rel: string, maxBytes: number): Buffer | null {
  return beneath().readBeneath(root, rel, maxBytes);
}

/**
 * A close-on-exec memfd holding `path`'s bytes, sealed against writing, growing and shrinking, or `undefined` when
 * the addon is missing or predates it. Throws Node-style errno errors (the file cannot be read).
 */
export function sealedCopy(path: string): number | undefined {
  return optionalFsx()?.sealedCopy?.(path);
}

/**
 * A directory's names in byte order and their lstat fields (see src/builder/fileops/scan.ts), or `undefined` when
 * the addon is missing or predates it. Throws Node-style errno errors.
 */
export function scanDir(dir: string): [string[], Float64Array] | undefined {
  return optionalFsx()?.scanDir?.(dir);
}

/** scanDir on a libuv worker thread, or `undefined` when the addon is missing or predates it. Rejects as scanDir throws. */
export function scanDirAsync(dir: string): Promise<[string[], Float64Array]> | undefined {
  return optionalFsx()?.scanDirAsync?.(dir);
}

/**
 * Whether this kernel runs the 32-bit x86 and the x32 system call ABIs for this process (each tried in a forked
 * child), or `undefined` when the addon is missing or predates the probe.
 */
export function compatAbis(): { ia32: boolean; x32: boolean } | undefined {
  const r = optionalFsx()?.compatAbis?.();
  return r && { ia32: r[0], x32: r[1] };
}

/** The addon, or `undefined` when it cannot be loaded (for calls that have a slower fallback). */
function optionalFsx(): FsxBinding | undefined {
  try {
    return fsx();
  } catch {
    return undefined;
  }
}
