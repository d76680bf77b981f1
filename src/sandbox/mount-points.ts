/**
 * Every path a container's OCI spec mounts onto, made safe inside the rootfs before runc starts, and the stubs
 * kiln creates for them removed afterwards. The rootfs comes from an image layer or an earlier step, so any of
 * its entries may be a symlink to a host path, and runc joins some paths with plain string joins that the host
 * kernel then resolves: runc < 1.3.6 creates `/dev/null`, `/dev/fd`, `ptmx`… through an image's
 * `/dev -> /host/dir` on the host. kiln's defence does not depend on runc's version:
 *
 * - `/dev`, `/proc` and `/sys` (RUNTIME_DIRS) must be real directories at exactly those paths: a symlink or a
 *   file there is replaced by an empty directory in the container's writable layer (the runtime's own mount
 *   hides the image's entry anyway, so nothing the container sees changes).
 * - Every other destination is resolved inside the rootfs (symlinks followed but never out of it, as runc's
 *   securejoin and Docker do) and the spec is rewritten to the resolved path, which contains no symlink; a path
 *   below an earlier mount (`/dev/pts`, a bind inside a bind) is left to the runtime: the image's tree is not
 *   what is there at mount time.
 * - Missing mount points are created by kiln, component by component without following symlinks, and their
 *   inodes recorded; after the run only those inodes, still empty, are removed, again walking from the root
 *   without following symlinks: the step may have replaced a parent with a symlink to the host (BuildKit's
 *   CVE-2024-23652), which must not make kiln delete the host's directories.
 *
 * Masked and read-only paths and device nodes get the same resolution when no spec mount covers them (in
 * kiln's spec they are all under /proc, /sys or /dev).
 */
import { readlink, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { KilnError } from '../errors.js';
import { lstatBeneath, makeBeneath, removeBeneath, type BeneathStat } from '../native/fsx.js';

/** The runtime's top-level mount points: runc mounts kernel file systems there and writes below /dev by plain joins. */
export const RUNTIME_DIRS = ['/dev', '/proc', '/sys'];

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
/** Linux's limit on symlinks followed in one lookup (MAXSYMLINKS). */
const MAX_LINKS = 40;

/** A mount point kiln created (a path relative to the rootfs, its kind and inode). */
export interface MountStub {
  rel: string;
  isDir: boolean;
  dev: bigint;
  ino: bigint;
}

/** The part of an OCI spec whose paths land in the rootfs (what buildSpec returns). */
export interface SpecPaths {
  mounts?: Array<{ destination: string; type?: string; source?: string }>;
  linux?: { maskedPaths?: string[]; readonlyPaths?: string[]; devices?: Array<{ path: string }> };
}

const isDirMode = (st: BeneathStat) => (st.mode & S_IFMT) === S_IFDIR;
const isLinkMode = (st: BeneathStat) => (st.mode & S_IFMT) === S_IFLNK;

/** lstatBeneath, with a missing parent reported as missing (null) too. */
function lstatOrMissing(root: string, rel: string): BeneathStat | null {
  try {
    return lstatBeneath(root, rel);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function unsafe(path: string, why: string): KilnError {
  return new KilnError('UNSAFE_PATH', `mount point ${path}: ${why}`, { hint: "the image's file system is not usable as a container root" });
}

/**
 * Resolves `path` inside `root`: symlinks followed within it (an absolute target restarts at the root, `..` stops
 * there), a missing component taken as the directory kiln will create. Stops at a path `covered` by an earlier
 * mount (the rest is kept as is). Returns the resolved path relative to the root.
 */
async function resolveBeneath(root: string, path: string, covered: (rel: string) => boolean): Promise<{ rel: string; covered: boolean }> {
  const pending = posix.normalize(path).split('/').filter(Boolean);
  const done: string[] = [];
  let links = 0;
  while (pending.length) {
    const part = pending.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    const rel = [...done, part].join('/');
    if (covered(rel)) return { rel: posix.normalize([...done, part, ...pending].join('/')), covered: true };
    const st = lstatOrMissing(root, rel);
    if (st && isLinkMode(st)) {
      if (++links > MAX_LINKS) throw unsafe(path, 'too many levels of symbolic links');
      // The parents in `done` were just reached without following links, and no process runs in this rootfs yet.
      const target = await readlink(join(root, rel));
      if (target.startsWith('/')) done.length = 0;
      pending.unshift(...target.split('/').filter(Boolean));
      continue;
    }
    if (st && !isDirMode(st) && pending.length) throw unsafe(path, `/${rel} is not a directory`);
    done.push(part);
  }
  return { rel: done.join('/'), covered: false };
}

/** Creates the missing components of `rel` (no-follow), the last as a directory or an empty file; records each. */
function createMissing(root: string, path: string, rel: string, lastIsDir: boolean | undefined, out: MountStub[]): void {
  const parts = rel.split('/');
  for (let i = 0; i < parts.length; i++) {
    const sub = parts.slice(0, i + 1).join('/');
    const last = i === parts.length - 1;
    const st = lstatOrMissing(root, sub);
    if (st) {
      // resolveBeneath left no symlink in `rel`: one now means the tree changed under us.
      if (isLinkMode(st)) throw unsafe(path, `/${sub} became a symbolic link`);
      continue;
    }
    // A bind whose source cannot be examined: the runtime reports that; kiln creates only the parents.
    if (last && lastIsDir === undefined) return;
    const isDir = last ? lastIsDir! : true;
    const made = makeBeneath(root, sub, isDir, isDir ? 0o755 : 0o644);
    out.push({ rel: sub, isDir, dev: made.dev, ino: made.ino });
  }
}

/** Makes `/dev`, `/proc` or `/sys` a real directory, replacing a symlink or file in the writable layer. */
function ensureRuntimeDir(root: string, path: string, out: MountStub[]): void {
  const rel = path.slice(1);
  const st = lstatBeneath(root, rel);
  if (!st) {
    const made = makeBeneath(root, rel, true, 0o755);
    out.push({ rel, isDir: true, dev: made.dev, ino: made.ino });
    return;
  }
  if (isDirMode(st)) return;
  // Not recorded as a stub: it replaces the image's entry, and removing it later would leave a whiteout instead.
  if (!removeBeneath(root, rel, false, st.dev, st.ino))
    throw unsafe(path, `the image's ${isLinkMode(st) ? 'symbolic link' : 'file'} there could not be replaced by a directory`);
  makeBeneath(root, rel, true, 0o755);
}

/** Whether a bind's source is a directory (true), a file (false), or cannot be examined (undefined). */
async function sourceIsDir(source: string | undefined): Promise<boolean | undefined> {
  if (!source) return undefined;
  const st = await stat(source).catch(() => undefined);
  return st ? st.isDirectory() : undefined;
}

/**
 * Checks and prepares every path `spec` mounts onto inside `rootfs` (mounted, before runc starts), rewriting
 * the spec's destinations to their resolved paths. Returns the stubs created; pass them to removeMountPoints
 * after the run. On an error, the stubs made so far are removed before it is thrown.
 */
export async function prepareMountPoints(rootfs: string, spec: SpecPaths): Promise<MountStub[]> {
  const stubs: MountStub[] = [];
  const mounted: string[] = [];
  const covered = (rel: string) => mounted.some((m) => rel === m || rel.startsWith(`${m}/`));
  try {
    for (const m of spec.mounts ?? []) {
      const dest = posix.normalize(m.destination);
      if (!dest.startsWith('/') || dest === '/')
        throw new KilnError('INVALID_ARGUMENT', `mount destination "${m.destination}" must be an absolute path other than /`);
      if (RUNTIME_DIRS.includes(dest) && !covered(dest.slice(1))) {
        ensureRuntimeDir(rootfs, dest, stubs);
        mounted.push(dest.slice(1));
        continue;
      }
      const r = await resolveBeneath(rootfs, dest, covered);
      m.destination = `/${r.rel}`;
      if (!r.covered) {
        const isDir = m.type === 'bind' ? await sourceIsDir(m.source) : true;
        createMissing(rootfs, dest, r.rel, isDir, stubs);
      }
      mounted.push(r.rel);
    }
    const linux = spec.linux ?? {};
    const resolveAll = async (paths: string[] | undefined) => {
      const out: string[] = [];
      for (const p of paths ?? []) out.push(`/${(await resolveBeneath(rootfs, p, covered)).rel}`);
      return out;
    };
    if (linux.maskedPaths) linux.maskedPaths = await resolveAll(linux.maskedPaths);
    if (linux.readonlyPaths) linux.readonlyPaths = await resolveAll(linux.readonlyPaths);
    for (const d of linux.devices ?? []) d.path = `/${(await resolveBeneath(rootfs, d.path, covered)).rel}`;
    return stubs;
  } catch (err) {
    await removeMountPoints(rootfs, stubs);
    throw err;
  }
}

/**
 * Removes the stubs prepareMountPoints created, deepest first, each only if it is still the same inode and
 * empty, reached from the root without following symlinks (call while the rootfs is still mounted, after the
 * container's processes are gone). Never throws: a stub left behind is only an extra entry in the layer.
 */
export async function removeMountPoints(rootfs: string, stubs: MountStub[]): Promise<void> {
  for (const s of [...stubs].reverse()) {
    try {
      if (!s.isDir) {
        const st = lstatBeneath(rootfs, s.rel);
        if (!st || st.size !== 0) continue;
      }
      removeBeneath(rootfs, s.rel, s.isDir, s.dev, s.ino);
    } catch {
      // a parent replaced by a symlink or removed: not kiln's to touch
    }
  }
}
