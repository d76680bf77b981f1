/**
 * What Node's fs lacks, for copies: device nodes, FIFOs and extended attributes. They go through kiln's native
 * helper (src/native/fsx.ts); when the helper is not built, nodes fall back to the `mknod` tool and
 * xattrs are skipped (a PRECONDITION error there would fail every COPY on a machine without a C compiler).
 */
import { spawnSync } from 'node:child_process';
import { KilnError, isKilnError } from '../../errors.js';
import { getXattrs, makeNode as fsxMakeNode, setXattr, S_IFBLK, S_IFCHR, S_IFIFO } from '../../native/fsx.js';

let nativeMissing = false;

/** Creates a FIFO (`p`) or a character (`c`) / block (`b`) device at `path`. Throws PRECONDITION when it cannot. */
export function makeNode(path: string, type: 'p' | 'c' | 'b', major: number, minor: number): void {
  if (!nativeMissing) {
    try {
      fsxMakeNode(path, (type === 'p' ? S_IFIFO : type === 'c' ? S_IFCHR : S_IFBLK) | 0o600, major, minor);
      return;
    } catch (err) {
      if (!(isKilnError(err) && err.code === 'PRECONDITION')) throw err;
      nativeMissing = true;
    }
  }
  const args = type === 'p' ? [path, 'p'] : [path, type, String(major), String(minor)];
  const r = spawnSync('mknod', args, { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new KilnError('PRECONDITION', `cannot create ${type === 'p' ? 'fifo' : 'device'} ${path}: ${(r.stderr || r.error?.message || '').trim()}`);
  }
}

/** Linux's major/minor split of a 64-bit dev_t (glibc's gnu_dev_major/minor). */
export function splitDev(rdev: number): { major: number; minor: number } {
  const big = BigInt(rdev);
  const major = Number(((big >> 8n) & 0xfffn) | ((big >> 32n) & ~0xfffn));
  const minor = Number((big & 0xffn) | ((big >> 12n) & ~0xffn));
  return { major, minor };
}

/**
 * Copies the extended attributes of `src` onto `dst` (neither followed if a symlink). Overlay's own
 * `trusted.overlay.*` bookkeeping is never copied; attributes the destination filesystem or our privileges refuse
 * (ENOTSUP, EPERM) are skipped, as BuildKit's copy tolerates xattr errors. Call after chown: chown drops
 * `security.capability`.
 */
export function copyXattrs(src: string, dst: string): void {
  if (nativeMissing) return;
  let attrs: Record<string, Buffer> | undefined;
  try {
    attrs = getXattrs(src);
  } catch (err) {
    if (isKilnError(err) && err.code === 'PRECONDITION') {
      nativeMissing = true;
      return;
    }
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTSUP' || code === 'EOPNOTSUPP') return;
    throw err;
  }
  if (!attrs) return;
  for (const [name, value] of Object.entries(attrs)) {
    if (name.startsWith('trusted.overlay.')) continue;
    try {
      setXattr(dst, name, value);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EPERM' && code !== 'EACCES') throw err;
    }
  }
}
