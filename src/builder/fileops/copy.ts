/**
 * COPY (and ADD's local sources) with BuildKit's rules (fsutil copy driven by the Dockerfile frontend):
 * - the destination is relative to WORKDIR unless absolute; ending in `/` (or `.`) makes it a directory;
 * - a directory source copies its contents; a file into an existing directory keeps its base name;
 * - missing destination directories are created 0755, owned by `--chown`'s owner (else root);
 * - an existing top-level destination directory keeps its mode and owner; directories below it take the
 *   source's; files replace files, never directories ("cannot replace to directory");
 * - mode, times, symlinks (as symlinks) and hardlinks among the copied files are kept; owners are the source's,
 *   or 0:0 for the build context (`ownership: 'reset'`, as BuildKit's context transfer), or `--chown`'s;
 * - `--chmod` applies to every copied file and directory.
 * Every destination path is resolved inside `destRoot` (resolveInRoot) and the tree is written without following
 * any symlink already there: a file target is unlinked first, a directory target must be a real directory.
 */
import { chmodSync, copyFileSync, lchownSync, linkSync, lutimesSync, mkdirSync, readlinkSync, symlinkSync, unlinkSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { basename, dirname, join, posix, relative } from 'node:path';
import { KilnError, fromSystemError, isKilnError } from '../../errors.js';
import { isGitSource, isHttpSource } from './http-source.js';
import { parseChmod, type ModeFn } from './chmod.js';
import { resolveChown, type Owner } from './chown.js';
import type { PathMatcher } from './patterns.js';
import { lstatOrUndefined, resolveInRoot } from './root-path.js';
import { selectSources, type Entry, type SelectedSource } from './select.js';
import type { FileStat } from './scan.js';
import { copyXattrs, makeNode, splitDev } from './special-files.js';

/** Files above this size are copied with the async API. */
const BIG_FILE = 4 << 20;

export interface CopyOptions {
  /** Host directory the sources live in: the build context, or a mounted stage/image rootfs. */
  srcRoot: string;
  /** Source paths/patterns after variable expansion (no URLs; add.ts handles those). */
  sources: readonly string[];
  /** Host directory of the step's rootfs (the mounted overlay), or an empty layer dir for `--link`. */
  destRoot: string;
  /** The destination as written (after expansion). */
  dest: string;
  /** The stage's WORKDIR, for a relative `dest`; default `/`. */
  workdir?: string;
  /** `--chown` as written. */
  chown?: string;
  /** Where `--chown` names are looked up; default `destRoot` (pass the base rootfs with `--link`). */
  passwdRoot?: string;
  /** `--chmod` as written. */
  chmod?: string;
  parents?: boolean;
  exclude?: readonly string[];
  /** `.dockerignore` (context sources only). */
  ignore?: PathMatcher;
  /** `reset` for the build context (owners become 0:0), `keep` for stages and images (default). */
  ownership?: 'keep' | 'reset';
  /** ADD: extract local tar archives named as sources. */
  unpack?: boolean;
  /** A selection already made with the same options (checksumSelection's input), to avoid walking twice. */
  selection?: readonly SelectedSource[];
  /** Sources of the whole instruction (URLs and heredocs included) for the several-sources rule; default `sources.length`. */
  sourceCount?: number;
  /** Fixed access/modification time for everything written (BuildKit's Utime; SOURCE_DATE_EPOCH rewrites). */
  utime?: Date;
  signal?: AbortSignal;
}

/** What a copy wrote, for progress and tests. */
export interface CopyResult {
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  archives: number;
  bytes: number;
}

/** Destination path (absolute, in the rootfs) and whether it names a directory (trailing `/`, `.`). */
export function resolveDest(dest: string, workdir = '/'): { path: string; isDir: boolean } {
  const d = dest === '' ? '.' : dest;
  const isDir = d.endsWith('/') || d === '.' || d.endsWith('/.') || d === '..' || d.endsWith('/..');
  const path = posix.normalize(d.startsWith('/') ? d : posix.join('/', workdir, d));
  return { path: path.length > 1 ? path.replace(/\/+$/, '') : '/', isDir };
}

/**
 * Copies the selected sources into `destRoot`. Throws COPY_SOURCE_NOT_FOUND for a missing non-wildcard source,
 * USER_NOT_FOUND for an unknown `--chown` name, INVALID_ARGUMENT for several sources into a non-directory,
 * UNSAFE_PATH / ARCHIVE_INVALID from extraction, CANCELLED on abort.
 */
export async function copyFiles(opts: CopyOptions): Promise<CopyResult> {
  for (const s of opts.sources) {
    if (isHttpSource(s) || isGitSource(s))
      throw new KilnError('DOCKERFILE_BAD_ARGS', `source can't be a URL for COPY: ${s}`, { hint: 'use ADD for remote sources' });
  }
  const selection =
    opts.selection ??
    (await selectSources(opts.srcRoot, opts.sources, {
      ignore: opts.ignore,
      exclude: opts.exclude,
      parents: opts.parents,
    }));
  const dest = resolveDest(opts.dest, opts.workdir);
  const owner = opts.chown ? resolveChown(opts.chown, opts.passwdRoot ?? opts.destRoot) : undefined;
  const c = new Copier(opts, owner, opts.chmod ? parseChmod(opts.chmod) : undefined);
  if (!dest.isDir && ((opts.sourceCount ?? opts.sources.length) > 1 || selection.length > 1)) {
    const existing = lstatOrUndefined(resolveInRoot(opts.destRoot, dest.path));
    if (!existing?.isDirectory()) {
      throw new KilnError('INVALID_ARGUMENT', `When using COPY with more than one source file, the destination must be a directory and end with a /`, {
        hint: `write the destination as ${opts.dest}/`,
      });
    }
  }
  try {
    for (const src of selection) {
      if (opts.signal?.aborted) throw new KilnError('CANCELLED', 'copy cancelled');
      await c.copySource(src, dest);
    }
  } catch (err) {
    if (isKilnError(err)) throw err;
    // A system error names the copy and its cause (ENOSPC is NO_SPACE), never the host paths of kiln's root.
    const e = err as NodeJS.ErrnoException;
    throw (
      fromSystemError(err, `copy to ${opts.dest}`) ?? new KilnError('BUILD_STEP_FAILED', `copy to ${opts.dest} failed: ${e.code ?? e.message}`, { cause: err })
    );
  }
  return c.result;
}

class Copier {
  readonly result: CopyResult = { files: 0, dirs: 0, symlinks: 0, hardlinks: 0, archives: 0, bytes: 0 };
  private readonly inodes = new Map<string, string>();
  private readonly asRoot = process.getuid?.() === 0;

  constructor(
    private readonly opts: CopyOptions,
    private readonly owner: Owner | undefined,
    private readonly mode: ModeFn | undefined,
  ) {}

  async copySource(src: SelectedSource, dest: { path: string; isDir: boolean }): Promise<void> {
    const root = this.opts.destRoot;
    // fsutil: make the destination's directory (or the destination itself when it is one) first.
    this.mkdirAll(resolveInRoot(root, dest.isDir ? dest.path : posix.dirname(dest.path)));
    let dst = resolveInRoot(root, dest.path);
    const top = src.entries[0];
    if (this.opts.unpack && top.st.isFile()) {
      // Loaded only for ADD: the unpacker's imports are start-up cost every COPY would pay.
      const { detectArchive, extractArchive } = await import('./archive.js');
      const kind = await detectArchive(top.abs, this.opts.signal);
      if (kind) {
        this.mkdirAll(dst);
        // Extraction treats the destination directory as its root, as Docker's chrootarchive does.
        await extractArchive(top.abs, kind, dst, { owner: this.owner, name: src.path || basename(top.abs), signal: this.opts.signal });
        this.result.archives++;
        return;
      }
    }
    const fiDest = lstatOrUndefined(dst);
    const srcIsDir = top.st.isDirectory();
    if (!srcIsDir && fiDest?.isDirectory()) dst = join(dst, basename(src.path || '.'));
    this.mkdirAll(srcIsDir && !fiDest ? dst : dirname(dst));
    await this.copyEntries(src.entries, dst);
  }

  /** Copies one source's entries (pre-order) to `dst`; directory metadata is applied after their contents. */
  private async copyEntries(entries: readonly Entry[], dst: string): Promise<void> {
    const dirs: Array<{ e: Entry; target: string; apply: boolean }> = [];
    let n = 0;
    for (const e of entries) {
      if ((++n & 255) === 0 && this.opts.signal?.aborted) throw new KilnError('CANCELLED', 'copy cancelled');
      const target = e.rel === '' ? dst : join(dst, e.rel);
      const existing = lstatOrUndefined(target);
      if (e.st.isDirectory()) {
        if (!existing) {
          mkdirSync(target, { mode: 0o700 });
          this.result.dirs++;
          dirs.push({ e, target, apply: true });
        } else if (!existing.isDirectory()) {
          throw new KilnError('BUILD_STEP_FAILED', `cannot copy to non-directory: ${this.show(target)}`);
        } else {
          // The top-level destination keeps its metadata (only its times follow the source); nested ones are replaced.
          dirs.push({ e, target, apply: e.rel !== '' });
        }
        continue;
      }
      if (existing) {
        if (existing.isDirectory()) throw new KilnError('BUILD_STEP_FAILED', `cannot replace to directory ${this.show(target)} with file`);
        unlinkSync(target);
      }
      const st = e.st;
      if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? this.inodes.get(key) : undefined;
        if (first) {
          linkSync(first, target);
          this.result.hardlinks++;
          continue; // shares the first link's inode and metadata
        }
        // Big files asynchronously (copy_file_range off the event loop): a server streaming progress stays live.
        if (st.size > BIG_FILE) await copyFile(e.abs, target);
        else copyFileSync(e.abs, target);
        if (st.nlink > 1) this.inodes.set(key, target);
        this.result.files++;
        this.result.bytes += st.size;
      } else if (st.isSymbolicLink()) {
        symlinkSync(readlinkSync(e.abs), target);
        this.result.symlinks++;
      } else if (st.isFIFO() || st.isCharacterDevice() || st.isBlockDevice()) {
        const { major, minor } = splitDev(st.rdev);
        makeNode(target, st.isFIFO() ? 'p' : st.isCharacterDevice() ? 'c' : 'b', major, minor);
      } else {
        continue; // sockets are not copied
      }
      this.applyInfo(st, target);
      copyXattrs(e.abs, target);
    }
    for (let i = dirs.length - 1; i >= 0; i--) {
      const d = dirs[i];
      if (d.apply) {
        this.applyInfo(d.e.st, d.target);
        copyXattrs(d.e.abs, d.target);
      } else this.setTimes(d.e.st, d.target, false);
    }
  }

  /** Owner, then mode (chown clears setuid bits), then times. Symlinks get owner and times only. */
  private applyInfo(st: FileStat, target: string): void {
    const link = st.isSymbolicLink();
    const o = this.owner ?? (this.opts.ownership === 'reset' ? { uid: 0, gid: 0 } : { uid: st.uid, gid: st.gid });
    this.chown(target, o);
    if (!link) chmodSync(target, this.mode ? this.mode(st.mode & 0o7777, st.isDirectory()) : st.mode & 0o7777);
    this.setTimes(st, target, link);
  }

  private setTimes(st: FileStat, target: string, _link: boolean): void {
    const u = this.opts.utime;
    // lutimes works for every type and never follows a symlink in the destination.
    lutimesSync(target, u ?? st.atimeMs / 1000, u ?? st.mtimeMs / 1000);
  }

  private chown(target: string, o: Owner): void {
    try {
      lchownSync(target, o.uid, o.gid);
    } catch (err) {
      // Unprivileged runs (unit tests) cannot give files away; as root a failure is real.
      if (this.asRoot) throw err;
    }
  }

  /** mkdir -p inside the destination: missing directories 0755, owned by `--chown`'s owner, else root. */
  private mkdirAll(hostPath: string): void {
    const missing: string[] = [];
    let p = hostPath;
    for (;;) {
      const st = lstatOrUndefined(p);
      if (st) {
        if (!st.isDirectory()) throw new KilnError('BUILD_STEP_FAILED', `cannot create directory ${this.show(hostPath)}: ${this.show(p)} is not a directory`);
        break;
      }
      missing.push(p);
      const up = dirname(p);
      if (up === p) break;
      p = up;
    }
    for (const dir of missing.reverse()) {
      mkdirSync(dir);
      chmodSync(dir, 0o755);
      this.chown(dir, this.owner ?? { uid: 0, gid: 0 });
      if (this.opts.utime) lutimesSync(dir, this.opts.utime, this.opts.utime);
    }
  }

  /** A destination host path as the user sees it (`/app/x`). */
  private show(hostPath: string): string {
    return `/${relative(this.opts.destRoot, hostPath)}`;
  }
}
