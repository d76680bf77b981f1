/**
 * Atomic file replacement: write a temp file beside the target (same filesystem), fsync it, rename it over the
 * target, fsync the directory. A reader sees the old or the new content, never a mix; a crash leaves at most a
 * temp file that the next start sweeps.
 */
import { open, rename, rm, mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** fsyncs a directory so a rename inside it survives a power cut; errors are ignored (some filesystems refuse). */
export async function fsyncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try { await fh.sync(); } finally { await fh.close(); }
  } catch {
    // Best effort: tmpfs and some overlay setups reject fsync on directories.
  }
}

/** A unique temp name next to `path`: `.<name>.tmp-<random>`. */
export function tempNameFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${randomBytes(6).toString('hex')}`);
}

/** Atomically replaces `path` with `data` (mode 0644 unless given). */
export async function writeFileAtomic(path: string, data: string | Buffer, opts: { mode?: number } = {}): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempNameFor(path);
  try {
    const fh = await open(tmp, 'wx', opts.mode ?? 0o644);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(dirname(path));
}
