/**
 * Device nodes and FIFOs. Node has no mknod(2), so these go through the `mknod` tool (coreutils); they are rare in
 * COPY sources (a stage's /dev is empty in images) and in ADD archives, so a process per node is acceptable.
 */
import { spawnSync } from 'node:child_process';
import { KilnError } from '../../errors.js';

/** Creates a FIFO (`p`) or a character (`c`) / block (`b`) device at `path`. Throws PRECONDITION when it cannot. */
export function makeNode(path: string, type: 'p' | 'c' | 'b', major: number, minor: number): void {
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
