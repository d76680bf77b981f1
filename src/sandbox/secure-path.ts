/**
 * Resolves a container path inside a rootfs directory the way the container would see it: symlinks are
 * followed but never leave the root (an absolute link target restarts at the root, `..` stops at it). kiln
 * reads the image's /etc/passwd and creates mount stubs through this, so a hostile image cannot make kiln
 * touch host files (the classic `ln -s /etc/shadow etc/passwd` trick). The rules are kiln's one resolver's
 * (src/paths/in-root.ts); this keeps the executor's call shape.
 */
import { resolveInRoot as resolveConfined } from '../paths/in-root.js';

/**
 * The host path for `containerPath` inside `root`, symlinks resolved within `root`. Missing tails are kept as-is.
 * Throws UNSAFE_PATH (a loop), PATH_TOO_LONG, and a coded error for EACCES and the like (never read as missing).
 */
export async function resolveInRoot(root: string, containerPath: string, opts: { signal?: AbortSignal } = {}): Promise<string> {
  return (await resolveConfined(root, containerPath, { signal: opts.signal })).path;
}
