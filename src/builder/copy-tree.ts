/**
 * Copies a tree from image or context content (a snapshot, a stage view, a context directory) without ever
 * opening anything but a regular file or a directory: FIFOs and device nodes are recreated with mknod (never
 * opened: opening an image's `c 1 11` would open the host's /dev/kmsg, a FIFO would block forever), symlinks are
 * copied verbatim and never followed, sockets are skipped with a warning. Node's fs.cp opens special files as if
 * they were regular ones, so the rootfs export (`--output type=local`), rw bind mounts and cache-mount seeding
 * copy through this instead. Regular files are opened O_NOFOLLOW|O_NONBLOCK and checked to be the regular file
 * that was listed before a byte is read. Hard links within the tree stay hard links.
 *
 * The destination is never followed either: an existing entry that is not a directory where the source has
 * one (a symlink left by an earlier export, say) is removed and replaced, not written through.
 */
import { constants, type Stats } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, open, readdir, readlink, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors.js';
import { copyXattrs, makeNode, splitDev } from './fileops/special-files.js';

export interface CopyTreeOptions {
  /** Keep each entry's uid/gid (rw bind mounts, cache seeds); otherwise the copy is owned by this process. */
  owners: boolean;
  /** Merge into an existing destination, replacing what is in the way (the local exporter); else `dst` must not exist. */
  merge?: boolean;
  /** Told about each entry that is not copied (sockets; nodes this process may not create). */
  onSkip?: (path: string, why: string) => void;
  signal?: AbortSignal;
}

const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
/** Read/write size for regular files: large enough that a big file costs few syscalls, small enough to share. */
const COPY_CHUNK = 1 << 20;
const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** Copies `src` (a directory or any single entry, not followed if a symlink) to `dst`. */
export async function copyTree(src: string, dst: string, opts: CopyTreeOptions): Promise<void> {
  const inodes = new Map<string, string>();
  const asRoot = process.getuid?.() === 0;
  let n = 0;

  const finish = async (st: Stats, target: string, from: string): Promise<void> => {
    const isLink = st.isSymbolicLink();
    if (opts.owners && asRoot) await lchown(target, st.uid, st.gid);
    // chmod after chown (chown clears setuid bits); a symlink has no mode of its own.
    if (!isLink) await chmod(target, st.mode & 0o7777);
    if (opts.owners) copyXattrs(from, target);
    await lutimes(target, st.atime, st.mtime);
  };

  const clear = async (target: string, wantDir: boolean): Promise<boolean> => {
    const have = await lstat(target).catch(() => undefined);
    if (!have) return false;
    if (!opts.merge) throw new KilnError('INTERNAL', `copyTree: ${target} exists`);
    if (wantDir && have.isDirectory()) return true;
    await rm(target, { recursive: true, force: true });
    return false;
  };

  const copyEntry = async (from: string, to: string): Promise<void> => {
    if ((++n & 255) === 0) opts.signal?.throwIfAborted();
    const st = await lstat(from);
    if (st.isDirectory()) {
      if (!(await clear(to, true))) await mkdir(to, { mode: 0o700 });
      for (const name of await readdir(from)) await copyEntry(join(from, name), join(to, name));
      await finish(st, to, from);
      return;
    }
    await clear(to, false);
    if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? inodes.get(key) : undefined;
      if (first) {
        await link(first, to);
        return;
      }
      await copyRegular(from, to, st);
      if (st.nlink > 1) inodes.set(key, to);
    } else if (st.isSymbolicLink()) {
      await symlink(await readlink(from), to);
    } else if (st.isFIFO() || st.isCharacterDevice() || st.isBlockDevice()) {
      const { major, minor } = splitDev(st.rdev);
      try {
        makeNode(to, st.isFIFO() ? 'p' : st.isCharacterDevice() ? 'c' : 'b', major, minor);
      } catch (err) {
        // Without CAP_MKNOD (a rootless run) a device cannot be recreated; it is left out, never opened.
        opts.onSkip?.(from, `cannot create ${st.isFIFO() ? 'FIFO' : 'device node'}: ${(err as Error).message}`);
        return;
      }
    } else {
      opts.onSkip?.(from, st.isSocket() ? 'a socket cannot be copied' : 'unknown file type');
      return;
    }
    await finish(st, to, from);
  };

  await copyEntry(src, dst);
}

/** Copies the regular file `from` (listed as `st`) to a new `to`; throws if `from` changed into something else. */
async function copyRegular(from: string, to: string, st: Stats): Promise<void> {
  const input = await open(from, READ_FLAGS);
  try {
    const now = await input.stat();
    if (!now.isFile() || now.ino !== st.ino || now.dev !== st.dev) {
      throw new KilnError('BUILD_STEP_FAILED', `${from} changed while it was being copied`);
    }
    const output = await open(to, WRITE_FLAGS, 0o600);
    try {
      const buf = Buffer.allocUnsafe(Math.min(COPY_CHUNK, Math.max(st.size, 1)));
      for (;;) {
        const { bytesRead } = await input.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        let off = 0;
        while (off < bytesRead) off += (await output.write(buf, off, bytesRead - off)).bytesWritten;
      }
    } finally {
      await output.close();
    }
  } finally {
    await input.close();
  }
}
