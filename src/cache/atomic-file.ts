/**
 * Atomic file replacement: write a temp file beside the target (same filesystem), fsync it, rename it over the
 * target, fsync the directory. A reader sees the old or the new content, never a mix; a crash leaves at most a
 * temp file that the next start sweeps.
 */
import { open, readdir, rename, rm, mkdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Writable } from 'node:stream';
import { isOwnerAlive, ownerToken } from './lock.js';

/** fsyncs a directory so a rename inside it survives a power cut; errors are ignored (some filesystems refuse). */
export async function fsyncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Best effort: tmpfs and some overlay setups reject fsync on directories.
  }
}

/**
 * A unique temp name next to `path`: `.<name>.tmp-<owner>-<random>`, where `<owner>` is this process's owner
 * token (`pid.starttime`), so that a later run can tell a dead writer's leftover from a live writer's file.
 */
export function tempNameFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${ownerToken()}-${randomBytes(6).toString('hex')}`);
}

/** A temp file named before owner tokens (`.<name>.tmp-<12 hex>`) whose mtime is this old was abandoned. */
const UNOWNED_ABANDONED_MS = 10 * 60_000;

/**
 * Removes the temp files that writers of `path` killed before their rename left beside it (a SIGKILLed
 * `kiln save -o FILE` leaves up to the whole archive): those whose owner is dead, and owner-less ones from
 * older kiln versions untouched for ten minutes. A live writer's file is never touched. Returns how many it
 * removed; errors are swallowed (a sweep must never fail the command that runs it).
 */
export async function sweepDeadTemps(path: string): Promise<number> {
  const prefix = `.${basename(path)}.tmp-`;
  let removed = 0;
  for (const name of await readdir(dirname(path)).catch(() => [] as string[])) {
    if (!name.startsWith(prefix)) continue;
    const rest = name.slice(prefix.length);
    const owned = /^(\d+\.\d+)-[0-9a-f]+$/.exec(rest);
    const p = join(dirname(path), name);
    if (owned) {
      if (isOwnerAlive(owned[1]!)) continue;
    } else if (/^[0-9a-f]{12}$/.test(rest)) {
      const st = await stat(p).catch(() => undefined);
      if (!st || Date.now() - st.mtimeMs < UNOWNED_ABANDONED_MS) continue;
    } else continue;
    await rm(p, { force: true }).then(
      () => removed++,
      () => {},
    );
  }
  return removed;
}

/**
 * Atomically replaces `path` with `data` (mode 0644 unless given). `durable: false` skips both fsyncs: readers
 * still see the old or the new content, but a power cut may lose the change. Only for files whose meaning dies
 * with the process that writes them (a lease), where the two fsyncs cost ms on every layer a build writes.
 */
export async function writeFileAtomic(path: string, data: string | Buffer, opts: { mode?: number; durable?: boolean } = {}): Promise<void> {
  const durable = opts.durable !== false;
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempNameFor(path);
  try {
    const fh = await open(tmp, 'wx', opts.mode ?? 0o644);
    try {
      await fh.writeFile(data);
      if (durable) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  if (durable) await fsyncDir(dirname(path));
}

/**
 * Writes a user's output file (`kiln save -o FILE`, `--output type=oci,dest=FILE`) so that it appears only when
 * complete: `write` fills a temp file beside it (opened O_EXCL, never through a symlink), which is renamed over
 * `path` when `write` resolves and removed when it throws. Temp files that killed writers left are swept first.
 */
export async function writeOutputFile(path: string, write: (out: Writable) => Promise<void>): Promise<void> {
  await sweepDeadTemps(path);
  const tmp = tempNameFor(path);
  let out: Writable | undefined;
  try {
    out = (await open(tmp, 'wx', 0o644)).createWriteStream();
    await write(out);
    await rename(tmp, path);
  } catch (err) {
    out?.destroy();
    await rm(tmp, { force: true });
    throw err;
  }
}
