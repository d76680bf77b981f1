/**
 * Directory -> layer tar. In `overlay` mode the directory is an overlayfs upper dir (a finished RUN step) and
 * its whiteouts become OCI ones: a char device 0:0 becomes `.wh.<name>`, an opaque directory
 * (`trusted.overlay.opaque=y`) gets a `.wh..wh..opq` member. In `plain` mode (`--output tar`, import, a
 * snapshot exported as-is) every file is written as it is.
 *
 * Either way: members in walk order with sorted names (a directory before its contents), owners, modes and
 * xattrs as on disk (minus overlayfs's own `trusted.overlay.*`), hardlinks inside the tree kept as links,
 * whole-second mtimes clamped to `sourceDateEpoch`, no atime/ctime/user names: the same tree gives the same
 * bytes, so the same build gives the same digest.
 */
import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { KilnError } from '../errors.js';
import { getXattrs, splitDev } from '../native/fsx.js';
import { packTar, type TarInput } from '../tar/writer.js';

export interface LayerTarOptions {
  /** `overlay` (default): convert overlayfs whiteouts and opaque dirs to OCI ones. `plain`: write files as they are. */
  mode?: 'overlay' | 'plain';
  /** SOURCE_DATE_EPOCH in seconds: no member's mtime is later than this (whiteouts get it, or 0 without it). */
  sourceDateEpoch?: number;
  /** Keep extended attributes (default true). */
  xattrs?: boolean;
  signal?: AbortSignal;
}

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';
const OVERLAY_XATTR = 'trusted.overlay.';
const OVERLAY_OPAQUE = 'trusted.overlay.opaque';

/** The layer tar of `dir` as a stream (see the module comment). Throws Node errors for unreadable files. */
export function layerTar(dir: string, opts: LayerTarOptions = {}): Readable {
  return packTar(layerEntries(dir, opts), { signal: opts.signal });
}

/** The plain tar of a directory tree: `layerTar` in `plain` mode. */
export function dirTar(dir: string, opts: Omit<LayerTarOptions, 'mode'> = {}): Readable {
  return layerTar(dir, { ...opts, mode: 'plain' });
}

/**
 * The members `layerTar` writes, lazily (a directory is read when the walk reaches it, so memory follows the
 * tree's depth and widest directory, not its size). Sockets are skipped: tar cannot hold them.
 */
export function* layerEntries(dir: string, opts: LayerTarOptions = {}): Generator<TarInput> {
  const overlay = (opts.mode ?? 'overlay') === 'overlay';
  const epoch = opts.sourceDateEpoch;
  const keepXattrs = opts.xattrs !== false;
  const markerTime = epoch ?? 0;
  /** dev:ino of multiply-linked files seen so far -> the member name that carries their data. */
  const links = new Map<string, string>();

  const clamp = (st: Stats): number => {
    const t = Math.floor(st.mtimeMs / 1000);
    return epoch !== undefined && t > epoch ? epoch : t;
  };

  function* walk(absDir: string, relDir: string): Generator<TarInput> {
    const names = readdirSync(absDir || '/').sort();
    if (names.some((n) => n.includes('\uFFFD'))) checkNames(absDir || '/', relDir);
    for (const name of names) {
      opts.signal?.throwIfAborted();
      const abs = `${absDir}/${name}`; // hot path: path.join's normalising showed in profiles
      const rel = relDir ? `${relDir}/${name}` : name;
      const st = lstatSync(abs);
      const base: TarInput = { name: rel, type: 'file', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: 0, mtime: clamp(st) };

      if (st.isCharacterDevice() && overlay && st.rdev === 0) {
        yield marker(relDir ? `${relDir}/${WHITEOUT_PREFIX}${name}` : `${WHITEOUT_PREFIX}${name}`, markerTime);
        continue;
      }
      let opaque = false;
      if (keepXattrs) {
        const xattrs = getXattrs(abs);
        if (xattrs) {
          for (const k of Object.keys(xattrs)) {
            if (!k.startsWith(OVERLAY_XATTR)) continue;
            if (k === OVERLAY_OPAQUE && xattrs[k]!.toString() === 'y') opaque = true;
            delete xattrs[k];
          }
          if (Object.keys(xattrs).length) base.xattrs = xattrs;
        }
      }

      if (st.isDirectory()) {
        base.type = 'dir';
        yield base;
        if (opaque && overlay) yield marker(`${rel}/${OPAQUE_WHITEOUT}`, markerTime);
        yield* walk(abs, rel);
      } else if (st.isFile()) {
        if (st.nlink > 1) {
          const key = `${st.dev}:${st.ino}`;
          const first = links.get(key);
          if (first !== undefined) {
            base.type = 'link';
            base.linkname = first;
            yield base;
            continue;
          }
          links.set(key, rel);
        }
        base.size = st.size;
        base.source = abs;
        yield base;
      } else if (st.isSymbolicLink()) {
        base.type = 'symlink';
        base.linkname = readlinkSync(abs);
        yield base;
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const [devmajor, devminor] = splitDev(st.rdev);
        Object.assign(base, { type: st.isCharacterDevice() ? 'char' : 'block', devmajor, devminor });
        yield base;
      } else if (st.isFIFO()) {
        base.type = 'fifo';
        yield base;
      }
    }
  }

  const top = resolve(dir);
  yield* walk(top === '/' ? '' : top, ''); // '' + '/name' keeps paths of the root directory single-slashed
}

/** Node decodes file names as UTF-8; a name that is not valid UTF-8 cannot be opened again by that name. */
function checkNames(absDir: string, relDir: string): void {
  for (const raw of readdirSync(absDir, { encoding: 'buffer' })) {
    if (!Buffer.from(raw.toString('utf8'), 'utf8').equals(raw)) {
      throw new KilnError(
        'INVALID_ARGUMENT',
        `${relDir || '.'}: file name ${JSON.stringify(raw.toString('latin1'))} is not valid UTF-8, which kiln's layers cannot hold`,
        {
          hint: 'rename the file (e.g. with convmv) in the step that creates it',
        },
      );
    }
  }
}

/** A whiteout member: an empty regular file owned by root, mode 0, as containerd and BuildKit write them. */
function marker(name: string, mtime: number): TarInput {
  return { name, type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtime };
}
