/**
 * The build context as a `RUN --mount=type=bind` without `from=` sees it: only what `.dockerignore` lets through.
 * BuildKit applies the excludes in its context source, so an ignored file exists for no instruction; binding the
 * context directory itself would hand every ignored file (secrets, .git, .env) to the step, read-only and, through
 * the rw copy, read-write.
 *
 * Cheapest correct form: one tree per build, made on the first such mount and shared by every later one, of hard
 * links to the context's files (no data copied; the server's contexts and the build's tmp dir share a
 * filesystem), falling back to copies when the context is on another filesystem. Directories and symlinks are
 * recreated with the context's modes, owners and times; special files are linked, never opened, or skipped when
 * copying. The mount is read-only (a rw mount copies this tree first), so the shared inodes cannot be written;
 * the tree lives in the build's tmp dir and goes with it. Without an ignore file the context is bound as it is.
 */
import type { Dirent } from 'node:fs';
import { copyFile, chmod, link, lchown, lstat, lutimes, mkdir, readdir, readlink, rmdir, symlink, utimes, chown } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors.js';
import type { BuildContext } from './build-context.js';
import type { PathMatcher } from './fileops/patterns.js';

const trees = new WeakMap<BuildContext, Promise<string>>();

/** The directory to bind for the context: the context itself without an ignore file, else its filtered tree. */
export function contextForMount(ctx: BuildContext): Promise<string> {
  if (!ctx.ignore) return Promise.resolve(ctx.contextDir);
  let tree = trees.get(ctx);
  if (!tree) {
    tree = buildFilteredTree(ctx.contextDir, join(ctx.tmpDir, 'context-filtered'), ctx.ignore, ctx.signal);
    trees.set(ctx, tree);
  }
  return tree;
}

/**
 * Makes `dest` a copy of `src` without the paths `ignore` matches (relative to `src`), of hard links where the
 * filesystem allows. An ignored directory is entered only when `!` patterns may re-include something in it, and
 * then kept only when something was. Nothing is followed: symlinks are recreated as links. Returns `dest`.
 */
export async function buildFilteredTree(src: string, dest: string, ignore: PathMatcher, signal?: AbortSignal): Promise<string> {
  const state = { copy: false };
  await mkdir(dest, { recursive: true, mode: 0o700 });
  await fillDir(src, dest, '', ignore, state, signal);
  await copyMeta(src, dest);
  return dest;
}

async function fillDir(src: string, dest: string, rel: string, ignore: PathMatcher, state: { copy: boolean }, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) throw new KilnError('CANCELLED', 'build cancelled');
  let entries: Dirent[];
  entries = await readdir(join(src, rel), { withFileTypes: true });
  let kept = false;
  for (const e of entries) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    const from = join(src, p);
    const to = join(dest, p);
    const ignored = ignore.matches(p);
    if (e.isDirectory()) {
      if (ignored && !ignore.hasExclusions) continue;
      await mkdir(to, { mode: 0o700 });
      const any = await fillDir(src, dest, p, ignore, state, signal);
      if (ignored && !any) {
        await rmdir(to);
        continue;
      }
      await copyMeta(from, to);
      kept = true;
      continue;
    }
    if (ignored) continue;
    if (e.isSymbolicLink()) {
      const st = await lstat(from);
      await symlink(await readlink(from), to);
      await lchown(to, st.uid, st.gid);
      await lutimes(to, st.atime, st.mtime);
      kept = true;
      continue;
    }
    if (!state.copy) {
      try {
        await link(from, to);
        kept = true;
        continue;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // Another filesystem (a local context), or a filesystem without hard links: copy from here on.
        if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK') throw err;
        state.copy = true;
      }
    }
    if (!e.isFile()) continue; // a FIFO or device is never opened; without a hard link it is left out
    await copyFile(from, to);
    await copyMeta(from, to);
    kept = true;
  }
  return kept;
}

/** Mode, owner and times of `from` onto `to` (a directory or a copied file; both real, never links). */
async function copyMeta(from: string, to: string): Promise<void> {
  const st = await lstat(from);
  await chown(to, st.uid, st.gid);
  await chmod(to, st.mode & 0o7777);
  await utimes(to, st.atime, st.mtime);
}
