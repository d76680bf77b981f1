/**
 * Confinement: resolving a path inside a root directory as if that root were `/`, the way containerd's
 * `fs.RootPath` (used by BuildKit's copy) and securejoin do. Every path kiln's file operations touch — in the build
 * context, in a source stage, in the destination rootfs, inside an extracted archive — goes through here, so a
 * symlink or `..` can never lead outside its root: an absolute link target restarts at the root, `..` stops at it.
 *
 * Synchronous on purpose: called once per COPY source (not per file), a handful of lstat/readlink calls.
 */
import { lstatSync, readlinkSync, type Stats } from 'node:fs';
import { join, posix } from 'node:path';
import { KilnError } from '../../errors.js';

/** Linux's own limit on symlinks followed while resolving one path (MAXSYMLINKS is 40). */
const MAX_LINKS = 255;

export interface ResolveOptions {
  /** Follow a symlink in the last component too (default true, as fs.RootPath). False resolves only the parents. */
  followFinal?: boolean;
}

/**
 * Resolves `unsafePath` (absolute or relative; relative means relative to the root) inside `root` and returns a
 * host path that lies inside `root`. Components that do not exist are appended as written (after `..` is applied
 * lexically), so a destination that will be created resolves too. Throws UNSAFE_PATH on a symlink loop.
 */
export function resolveInRoot(root: string, unsafePath: string, opts: ResolveOptions = {}): string {
  const followFinal = opts.followFinal ?? true;
  const queue = splitPath(unsafePath);
  const resolved: string[] = [];
  let links = 0;
  let missing = false;
  while (queue.length > 0) {
    const part = queue.shift()!;
    if (part === '.' || part === '') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    if (missing || (queue.length === 0 && !followFinal)) {
      resolved.push(part);
      continue;
    }
    const host = join(root, ...resolved, part);
    let isLink = false;
    try {
      isLink = lstatSync(host).isSymbolicLink();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
      missing = true;
    }
    if (!isLink) {
      resolved.push(part);
      continue;
    }
    if (++links > MAX_LINKS) {
      throw new KilnError('UNSAFE_PATH', `${unsafePath}: too many levels of symbolic links`);
    }
    const target = readlinkSync(host);
    if (target.startsWith('/')) resolved.length = 0;
    queue.unshift(...splitPath(target));
  }
  return resolved.length === 0 ? root : join(root, ...resolved);
}

/** `/a//b/./c/` → `['a','b','.','c']` (empty parts dropped; `.`/`..` kept for the resolver). */
function splitPath(p: string): string[] {
  return p.split('/').filter((s) => s !== '');
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
