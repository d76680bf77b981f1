/**
 * Reads a small text file of an image (its /etc/passwd, /etc/group) on the host without ever opening what is not
 * a regular file and without following a symlink that appears after the path was resolved. An image whose
 * /etc/passwd is a FIFO made the host's read block forever, one whose /etc/passwd is `c 1 5` made it read the
 * host's /dev/zero until memory ran out; and a running container (`kiln exec -u NAME`) can swap `/etc` for a
 * symlink to a host directory between kiln's resolving the path and its opening it. So the path, already resolved
 * inside its root (src/paths/), is walked again from the root one component at a time without following symlinks,
 * and the file is read through the descriptor that was checked (native/fsx.c readBeneath).
 */
import { relative } from 'node:path';
import { KilnError } from '../errors.js';
import { readBeneath } from '../native/fsx.js';

/** Larger than any real passwd or group database; a bigger "database" is refused, not read into memory. */
const MAX_BYTES = 16 << 20;

/**
 * The text of `hostPath` (inside `root`, as src/paths/ resolved it), `undefined` when it does not exist. Throws
 * UNSAFE_PATH, naming `shown`, when it is not a regular file, is too big, or the way to it changed to a symlink.
 */
export function readImageTextFile(root: string, hostPath: string, shown: string): string | undefined {
  const refuse = (why: string, cause?: unknown) => new KilnError('UNSAFE_PATH', `${shown} in the image ${why}; kiln does not open it`, { cause });
  const rel = relative(root, hostPath);
  if (rel === '') throw refuse('is not a regular file'); // a link to `/` resolves to the root itself
  if (rel.startsWith('..')) throw new KilnError('INTERNAL', `${shown}: the resolved path is not inside its root`);
  try {
    return readBeneath(root, rel, MAX_BYTES)?.toString('utf8');
  } catch (err) {
    switch ((err as NodeJS.ErrnoException).code) {
      case 'ENOTDIR':
        return undefined; // a parent is a file: no such path, as lstat says it
      case 'EINVAL':
        throw refuse('is not a regular file', err);
      case 'EFBIG':
        throw refuse(`is larger than ${MAX_BYTES >> 20} MiB`, err);
      case 'ELOOP':
        throw refuse('changed into a symlink while kiln read it', err);
      default:
        throw err;
    }
  }
}
