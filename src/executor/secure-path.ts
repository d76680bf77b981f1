/**
 * Resolves a container path inside a rootfs directory the way the container would see it: symlinks are
 * followed but never leave the root (an absolute link target restarts at the root, `..` stops at it). kiln
 * reads the image's /etc/passwd and creates mount stubs through this, so a hostile image cannot make kiln
 * touch host files (the classic `ln -s /etc/shadow etc/passwd` trick).
 */
import { lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors.js';

const MAX_LINKS = 255;

/** The host path for `containerPath` inside `root`, symlinks resolved within `root`. Missing tails are kept as-is. */
export async function resolveInRoot(root: string, containerPath: string): Promise<string> {
  const pending = containerPath.split('/').filter(Boolean);
  const done: string[] = [];
  let links = 0;
  while (pending.length) {
    const part = pending.shift()!;
    if (part === '.') continue;
    if (part === '..') { done.pop(); continue; }
    const host = join(root, ...done, part);
    let st;
    try {
      st = await lstat(host);
    } catch {
      // Nothing there: the rest of the path cannot contain links.
      done.push(part, ...pending.filter((p) => p !== '.'));
      return normalizeJoin(root, done);
    }
    if (!st.isSymbolicLink()) { done.push(part); continue; }
    if (++links > MAX_LINKS) throw new KilnError('UNSAFE_PATH', `too many symbolic links resolving ${containerPath}`);
    const target = await readlink(host);
    if (target.startsWith('/')) done.length = 0;
    pending.unshift(...target.split('/').filter(Boolean));
  }
  return normalizeJoin(root, done);
}

function normalizeJoin(root: string, parts: string[]): string {
  const out: string[] = [];
  for (const p of parts) {
    if (p === '..') out.pop();
    else if (p !== '.' && p !== '') out.push(p);
  }
  return join(root, ...out);
}
