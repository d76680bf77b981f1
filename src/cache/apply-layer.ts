/**
 * Unpacks a layer blob (any compression, sniffed) into a directory. For a snapshot (`whiteouts: 'overlay'`)
 * OCI whiteouts become overlayfs ones, as Docker's overlay2 driver does: `.wh.name` -> a char device 0:0 named
 * `name`, `.wh..wh..opq` -> `trusted.overlay.opaque=y` on its directory. With `whiteouts: 'delete'` the layer
 * is applied onto a full tree instead (flattening, `--output local`): whiteouts delete what they name.
 *
 * Kept exactly: owners, modes (setuid/setgid/sticky: chmod runs after chown, which clears them), xattrs byte
 * for byte (after chown, which drops security.capability), mtimes (directories last), hardlinks, symlinks,
 * device nodes and fifos. Every path stays inside the target: see tar/confine.ts.
 *
 * File system calls are synchronous on purpose: one member costs ~6 calls, and each fs/promises call is a
 * thread-pool round trip (open+read+close of 5,000 small files measured 11x slower that way than sync).
 */
import {
  closeSync,
  constants as fsc,
  fchmodSync,
  fchownSync,
  futimesSync,
  linkSync,
  lchownSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  realpathSync,
  rmSync,
  chmodSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fromSystemError, isKilnError, KilnError } from '../errors.js';
import { createDecompressStream } from '../layers/compression.js';
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from '../layers/layer-diff.js';
import { cleanMemberName, RootResolver } from '../tar/confine.js';
import { makeNode, S_IFBLK, S_IFCHR, S_IFIFO, setXattr } from '../native/fsx.js';
import type { TarEntry } from '../tar/header.js';
import { readTar } from '../tar/reader.js';
import { DigestStream } from '../image/digest.js';
import type { Descriptor, Digest } from '../image/types.js';
import type { ContentStore } from './types.js';

export interface ApplyLayerOptions {
  /**
   * `overlay` (default): whiteouts become overlayfs whiteouts. `delete`: whiteouts remove files from `dir`
   * (applying a layer onto a full tree). `keep`: `.wh.` members are ordinary files (an ADD archive).
   */
  whiteouts?: 'overlay' | 'delete' | 'keep';
  /** Set owners (the archive's, or `owner`) on what is written (default: when running as root). */
  sameOwner?: boolean;
  /** Every member gets this owner instead of the archive's (ADD --chown, Docker's ChownOpts). */
  owner?: { uid: number; gid: number };
  /**
   * A member naming the target itself (`./`, `.`): `apply` (default) sets its owner, mode and times on the
   * target, as a layer's root entry does; `skip` leaves the target alone, as moby's Unpack does for a `.` entry
   * when the destination directory exists (ADD, which always creates its destination first).
   */
  rootEntry?: 'apply' | 'skip';
  /**
   * Skip xattrs the file system or our privileges refuse (ENOTSUP, EPERM), as Docker's BestEffortXattrs for
   * ADD; a layer (default false) fails instead of silently losing one.
   */
  bestEffortXattrs?: boolean;
  /** Name for error messages (a digest). */
  source?: string;
  /** The uncompressed tar's digest (the image config's diff ID): checked, DIGEST_MISMATCH when it differs. */
  diffId?: Digest;
  signal?: AbortSignal;
}

export interface ApplyStats {
  entries: number;
  /** Bytes of file content written. */
  bytes: number;
}

/**
 * Unpacks `blob` into `dir` (which must exist). Throws ARCHIVE_INVALID for a corrupt stream or a hardlink to
 * a file the layer does not contain, UNSAFE_PATH for a member climbing out of `dir`.
 */
export async function applyLayer(blob: Readable, dir: string, opts: ApplyLayerOptions = {}): Promise<ApplyStats> {
  const applier = createApplier(dir, opts);
  const plain = new DigestStream();
  // pipeline() reports the AbortError of the streams it tears down rather than what the unpacking threw (a corrupt
  // header, ENOSPC): keep the first real failure and report that.
  let failure: unknown;
  try {
    await pipeline(
      blob,
      createDecompressStream('auto'),
      plain,
      async (source: AsyncIterable<Buffer>) => {
        try {
          for await (const { entry, body } of readTar(source, { signal: opts.signal, source: opts.source })) {
            await applier.add(entry, body);
          }
        } catch (err) {
          failure ??= err;
          throw err;
        }
      },
      { signal: opts.signal },
    );
  } catch (err) {
    const first = failure ?? err;
    if (isKilnError(first) || opts.signal?.aborted) throw first;
    throw (
      fromSystemError(first, `unpacking layer ${opts.source ?? ''}`.trim()) ??
      new KilnError('ARCHIVE_INVALID', `${opts.source ?? 'layer'}: cannot unpack: ${(first as Error)?.message ?? String(first)}`, { cause: first })
    );
  }
  if (opts.diffId && plain.digest() !== opts.diffId) {
    throw new KilnError('DIGEST_MISMATCH', `${opts.source ?? 'layer'}: uncompressed content is ${plain.digest()}, the image says ${opts.diffId}`);
  }
  applier.finish();
  return applier.stats;
}

/**
 * Unpacks an image's layers, bottom first, into one directory with whiteouts applied as deletions: the
 * image's root filesystem as a plain tree (`--output local`, tests comparing file listings).
 */
export async function unpackLayers(
  content: ContentStore,
  layers: Array<{ descriptor: Descriptor; diffId?: Digest }>,
  dir: string,
  opts: { signal?: AbortSignal; sameOwner?: boolean } = {},
): Promise<ApplyStats> {
  const total: ApplyStats = { entries: 0, bytes: 0 };
  for (const l of layers) {
    const blob = await content.read(l.descriptor.digest, { signal: opts.signal });
    const st = await applyLayer(blob, dir, {
      whiteouts: 'delete',
      diffId: l.diffId,
      source: l.descriptor.digest,
      signal: opts.signal,
      sameOwner: opts.sameOwner,
    });
    total.entries += st.entries;
    total.bytes += st.bytes;
  }
  return total;
}

/**
 * Whether an xattr from an archive may be set on disk. overlayfs's own attributes (`trusted.overlay.*`: opaque,
 * redirect, metacopy, origin) never are: a crafted layer or ADD archive could hide or redirect a lower
 * directory (an opaque marker on `bin/` hides the base image's /bin). Opaque directories come only from
 * `.wh..wh..opq` members of a layer.
 */
export function archiveXattrAllowed(name: string): boolean {
  return !name.startsWith('trusted.overlay.');
}

/** Applies members one at a time; `finish()` sets directory times once nothing more is written into them. */
export function createApplier(dir: string, opts: ApplyLayerOptions = {}) {
  const root = realpathSync(dir);
  const where = opts.source ?? 'layer';
  const resolver = new RootResolver(root, where);
  const overlay = (opts.whiteouts ?? 'overlay') === 'overlay';
  const keepWhiteouts = opts.whiteouts === 'keep';
  const sameOwner = opts.sameOwner ?? process.getuid?.() === 0;
  const skipRoot = opts.rootEntry === 'skip';
  const dirTimes: Array<[string, number]> = [];
  /** Paths this layer wrote (delete mode: an opaque marker keeps these and removes the rest). */
  const written = new Set<string>();
  const stats: ApplyStats = { entries: 0, bytes: 0 };

  /** Removes whatever is at `abs` (no symlink following); forgets cached parents when a directory goes. */
  function clear(abs: string): void {
    // throwIfNoEntry: a thrown ENOENT (with its stack) cost more than the syscall on every new file.
    const st = lstatSync(abs, { throwIfNoEntry: false });
    if (!st) return;
    if (st.isDirectory()) {
      rmSync(abs, { recursive: true, force: true });
      resolver.invalidate();
    } else {
      unlinkSync(abs);
    }
  }

  function metadata(abs: string, e: TarEntry, fd?: number): void {
    if (sameOwner) {
      const { uid, gid } = opts.owner ?? e;
      if (fd !== undefined) fchownSync(fd, uid, gid);
      else lchownSync(abs, uid, gid);
    }
    if (e.type !== 'symlink') {
      if (fd !== undefined) fchmodSync(fd, e.mode);
      else chmodSync(abs, e.mode);
    }
    if (e.xattrs) {
      for (const [k, v] of Object.entries(e.xattrs)) {
        if (!archiveXattrAllowed(k)) continue;
        try {
          setXattr(abs, k, v);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (!(opts.bestEffortXattrs && (code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EPERM'))) throw err;
        }
      }
    }
    if (e.type === 'dir') dirTimes.push([abs, e.mtime]);
    else if (fd !== undefined) futimesSync(fd, e.mtime, e.mtime);
    else lutimesSync(abs, e.mtime, e.mtime);
  }

  function whiteout(parent: string, parentRel: string, base: string): void {
    if (base === OPAQUE_WHITEOUT) {
      if (overlay) setXattr(parent, 'trusted.overlay.opaque', Buffer.from('y'));
      else for (const child of readdirSync(parent)) if (!written.has(parentRel ? `${parentRel}/${child}` : child)) clear(`${parent}/${child}`);
      return;
    }
    const name = base.slice(WHITEOUT_PREFIX.length);
    if (!name || name === '.' || name === '..' || name.includes('/')) throw new KilnError('ARCHIVE_INVALID', `${where}: bad whiteout "${base}"`);
    clear(`${parent}/${name}`);
    if (overlay) makeNode(`${parent}/${name}`, S_IFCHR, 0, 0);
  }

  /** Every failure names the member; system errors other than resource ones mean the archive is unusable. */
  async function add(e: TarEntry, body: AsyncIterable<Buffer>): Promise<void> {
    try {
      await addMember(e, body);
    } catch (err) {
      if (err instanceof KilnError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EMFILE' || code === 'ENFILE') throw fromSystemError(err, `${where}: ${e.name}`) ?? err;
      throw new KilnError('ARCHIVE_INVALID', `${where}: cannot unpack ${e.type} "${e.name}": ${(err as Error).message}`, { cause: err });
    }
  }

  async function addMember(e: TarEntry, body: AsyncIterable<Buffer>): Promise<void> {
    stats.entries++;
    const comps = cleanMemberName(e.name, where);
    if (comps.length === 0) {
      if (e.type === 'dir' && !skipRoot) metadata(root, e);
      return;
    }
    const base = comps[comps.length - 1]!;
    const rel = comps.join('/');
    const parent = resolver.parentOf(comps);
    const abs = `${parent}/${base}`;
    if (!keepWhiteouts && base.startsWith(WHITEOUT_PREFIX)) return whiteout(parent, comps.slice(0, -1).join('/'), base);
    written.add(rel);

    switch (e.type) {
      case 'dir': {
        const st = lstatSafe(abs);
        if (st && !st.isDirectory()) clear(abs);
        if (!st || !st.isDirectory()) mkdirSync(abs, { mode: 0o700 });
        metadata(abs, e);
        // `.wh.d` then `d/` in one layer (older writers' way to replace a directory): hide the lower one.
        if (overlay && st?.isCharacterDevice() && st.rdev === 0) setXattr(abs, 'trusted.overlay.opaque', Buffer.from('y'));
        return;
      }
      case 'file': {
        const fd = createExclusive(abs, clear);
        try {
          for await (const chunk of body) {
            let off = 0;
            while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
            stats.bytes += chunk.length;
          }
          metadata(abs, e, fd);
        } finally {
          closeSync(fd);
        }
        return;
      }
      case 'link': {
        const targetComps = cleanMemberName(e.linkname ?? '', where);
        const target = targetComps.length ? resolver.resolve(targetComps, false, false) : undefined;
        const tst = target === undefined ? undefined : lstatSafe(target);
        if (!tst || tst.isDirectory()) {
          throw new KilnError(
            'ARCHIVE_INVALID',
            `${where}: hardlink "${e.name}" points at "${e.linkname}", which the unpacked tree does not contain (as a file)`,
          );
        }
        if (target === abs) return;
        clear(abs);
        linkSync(target!, abs);
        return;
      }
      case 'symlink':
        clear(abs);
        symlinkSync(e.linkname ?? '', abs);
        metadata(abs, e);
        return;
      case 'char':
      case 'block':
      case 'fifo': {
        clear(abs);
        const type = e.type === 'char' ? S_IFCHR : e.type === 'block' ? S_IFBLK : S_IFIFO;
        makeNode(abs, type | (e.mode & 0o777), e.devmajor ?? 0, e.devminor ?? 0);
        metadata(abs, e);
        return;
      }
    }
  }

  function finish(): void {
    // Children change their directory's mtime, so directories get theirs last, deepest first.
    for (let i = dirTimes.length - 1; i >= 0; i--) {
      const [abs, t] = dirTimes[i]!;
      utimesSync(abs, t, t);
    }
  }

  return { add, finish, stats };
}

const CREATE_FLAGS = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;

/** Creates `abs` for writing; only when something is in the way (rare) is it removed and the open retried. */
function createExclusive(abs: string, clear: (abs: string) => void): number {
  try {
    return openSync(abs, CREATE_FLAGS, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    clear(abs);
    return openSync(abs, CREATE_FLAGS, 0o600);
  }
}

function lstatSafe(p: string) {
  return lstatSync(p, { throwIfNoEntry: false });
}
