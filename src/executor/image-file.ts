/**
 * Reads a small text file of an image (its /etc/passwd, /etc/group) on the host without ever opening what is not
 * a regular file: an image whose /etc/passwd is a FIFO made the host's read block forever, and one whose
 * /etc/passwd is `c 1 5` made it read the host's /dev/zero until memory ran out. The path must already be
 * resolved inside its root (secure-path.ts, fileops/root-path.ts); it is opened O_NOFOLLOW|O_NONBLOCK only after
 * lstat says it is a regular file, and fstat must then agree before a byte is read.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readFileSync } from 'node:fs';
import { KilnError } from '../errors.js';

/** Larger than any real passwd or group database; a bigger "database" is refused, not read into memory. */
const MAX_BYTES = 16 << 20;

/** The file's text, `undefined` when it does not exist. Throws UNSAFE_PATH when it is not a regular file or is too big. */
export function readImageTextFile(hostPath: string, shown: string): string | undefined {
  let st;
  try {
    st = lstatSync(hostPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
  const refuse = (why: string) => new KilnError('UNSAFE_PATH', `${shown} in the image ${why}; kiln does not open it`);
  if (!st.isFile()) throw refuse('is not a regular file');
  if (st.size > MAX_BYTES) throw refuse(`is larger than ${MAX_BYTES >> 20} MiB`);
  const fd = openSync(hostPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const now = fstatSync(fd);
    if (!now.isFile() || now.ino !== st.ino || now.dev !== st.dev) throw refuse('changed while kiln read it');
    if (now.size > MAX_BYTES) throw refuse(`is larger than ${MAX_BYTES >> 20} MiB`);
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}
