/**
 * Confinement: resolving a path inside a root directory as if that root were `/`, the way containerd's
 * `fs.RootPath` (used by BuildKit's copy) and securejoin do. Every path kiln's file operations touch — in the build
 * context, in a source stage, in the destination rootfs, inside an extracted archive — goes through here, so a
 * symlink or `..` can never lead outside its root: an absolute link target restarts at the root, `..` stops at it.
 *
 * Synchronous on purpose: called once per COPY source (not per file), a handful of lstat/readlink calls. The rules
 * live in src/paths/in-root.ts; this file adapts them to the file operations' shape and adds lexical helpers.
 */
import { lstatSync, type Stats } from 'node:fs';
import { posix } from 'node:path';
import { resolveInRootSync } from '../../paths/in-root.js';

export interface ResolveOptions {
  /** Follow a symlink in the last component too (default true, as fs.RootPath). False resolves only the parents. */
  followFinal?: boolean;
}

/**
 * Resolves `unsafePath` (absolute or relative; relative means relative to the root) inside `root` and returns a
 * host path that lies inside `root`, by kiln's one resolver (src/paths/in-root.ts: Linux's limits, ELOOP after 40
 * links, PATH_TOO_LONG past PATH_MAX). Components that do not exist are appended as written (after `..` is applied
 * lexically), so a destination that will be created resolves too.
 */
export function resolveInRoot(root: string, unsafePath: string, opts: ResolveOptions = {}): string {
  return resolveInRootSync(root, unsafePath, { followFinal: opts.followFinal ?? true }).path;
}

/**
 * Lexically cleans `p` as an absolute path inside a root: `..` cannot climb above `/`. Used for archive entries and
 * destination paths before they meet the filesystem. Returns a path starting with `/`.
 */
export function cleanAbs(p: string): string {
  return posix.normalize(`/${p}`).replace(/\/+$/, '') || '/';
}

/** True when a (relative, slash-separated) path would climb out of its base: `../x`, `a/../../x`. */
export function escapesBase(rel: string): boolean {
  const n = posix.normalize(rel);
  return n === '..' || n.startsWith('../') || n.startsWith('/');
}

/** `lstat` of a path that may be absent: undefined for ENOENT/ENOTDIR, other errors (EACCES, ELOOP…) thrown. */
export function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}
