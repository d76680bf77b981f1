/**
 * Reading one file of a build context (the Dockerfile, `<Dockerfile>.dockerignore`, `.dockerignore`) without ever
 * leaving the context. The context may come from a stranger (`kiln serve` unpacks whatever tar it is sent), so a
 * `Dockerfile -> /etc/passwd` or a `sub -> /host/dir` must not show a host file to the build or in an error.
 *
 * The path is resolved by the one confinement resolver (root-path.ts: a symlink that stays inside is followed as
 * BuildKit follows it inside its context snapshot; an absolute or `..` target restarts or stops at the root), the
 * final component is opened O_NOFOLLOW (a link swapped in after resolution fails instead of being followed), and
 * the opened file's real path (/proc/self/fd) must lie inside the root (a parent swapped for a link is caught).
 */
import { constants } from 'node:fs';
import { open, readlink, realpath } from 'node:fs/promises';
import { KilnError } from '../../errors.js';
import { resolveInRoot } from './root-path.js';

// O_NONBLOCK: a FIFO planted in the context must not hang the open (fstat then refuses it). libuv adds O_CLOEXEC.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * The bytes of `relPath` (slash-separated, relative to `root`) read inside `root`, or undefined when it does not
 * exist there (also when a symlink of the context points at something outside: confined, it names a missing
 * file). `what` names the file in errors (never the host path it resolved to, never its content).
 * Throws INVALID_ARGUMENT for a directory or special file, UNSAFE_PATH when the file changed under us into a
 * path outside the root.
 */
export async function readFileInRoot(root: string, relPath: string, what: string = relPath): Promise<Buffer | undefined> {
  const realRoot = await realpath(root);
  const host = resolveInRoot(realRoot, relPath);
  if (host === realRoot) throw new KilnError('INVALID_ARGUMENT', `${what}: is a directory`);
  let fh;
  try {
    fh = await open(host, OPEN_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if (code === 'ELOOP') throw new KilnError('UNSAFE_PATH', `${what}: became a symbolic link while being read`);
    if (code === 'EISDIR') throw new KilnError('INVALID_ARGUMENT', `${what}: is a directory`);
    throw new KilnError('INVALID_ARGUMENT', `${what}: cannot be read (${code ?? 'error'})`, { cause: err });
  }
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw new KilnError('INVALID_ARGUMENT', `${what}: is a directory`);
    if (!st.isFile()) throw new KilnError('INVALID_ARGUMENT', `${what}: is not a regular file`);
    const opened = await readlink(`/proc/self/fd/${fh.fd}`);
    if (!opened.startsWith(realRoot === '/' ? '/' : `${realRoot}/`)) throw new KilnError('UNSAFE_PATH', `${what}: resolves outside the build context`);
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}
