/**
 * Disk space of snapshot directories, measured like du(1) over apparent file sizes, with hard links in mind:
 * the builder's incremental COPY clones an earlier snapshot with hard links, so two snapshot dirs may share most
 * of their bytes. A file is counted once however many of its links are measured, and removing a set of
 * directories frees a file only when every one of its links lies inside that set (`exclusiveBytes`).
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** One inode seen under a measured directory. */
interface InodeUse {
  size: number;
  /** Links the file has on disk (st_nlink). */
  nlink: number;
  /** Links found per measured directory. */
  links: Map<string, number>;
}

/** Inodes of a group of measured directories (`measureDirs`). */
export interface DirMeasure {
  /** Directories measured, in the order given. */
  dirs: string[];
  /** Bytes of every distinct file under all of them. */
  bytes: number;
  /** Files counted (distinct inodes). */
  files: number;
  inodes: Map<string, InodeUse>;
}

/** Directory entries read at once; bounds open handles and thread-pool work on huge trees. */
const BATCH = 64;

/** Walks `dirs` (missing ones count as empty) and records every non-directory inode under them. */
export async function measureDirs(dirs: Iterable<string>, opts: { signal?: AbortSignal } = {}): Promise<DirMeasure> {
  const m: DirMeasure = { dirs: [], bytes: 0, files: 0, inodes: new Map() };
  for (const top of dirs) {
    m.dirs.push(top);
    const stack = [top];
    while (stack.length > 0) {
      opts.signal?.throwIfAborted();
      const dir = stack.pop()!;
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (let i = 0; i < entries.length; i += BATCH) {
        await Promise.all(entries.slice(i, i + BATCH).map(async (e) => {
          const p = join(dir, e.name);
          if (e.isDirectory()) {
            stack.push(p);
            return;
          }
          const st = await lstat(p).catch(() => undefined);
          if (!st || st.isDirectory()) return;
          const key = `${st.dev}:${st.ino}`;
          let use = m.inodes.get(key);
          if (!use) {
            use = { size: st.size, nlink: st.nlink, links: new Map() };
            m.inodes.set(key, use);
            m.bytes += st.size;
            m.files++;
          }
          use.links.set(top, (use.links.get(top) ?? 0) + 1);
        }));
      }
    }
  }
  return m;
}

/**
 * Bytes that removing `dirs` (a subset of the measured ones) frees: files all of whose links are under them.
 * A file that also has links outside every measured directory is never counted (it stays on disk).
 */
export function exclusiveBytes(m: DirMeasure, dirs: Iterable<string>): number {
  const gone = new Set(dirs);
  let bytes = 0;
  for (const use of m.inodes.values()) {
    let inside = 0;
    for (const [d, n] of use.links) if (gone.has(d)) inside += n;
    if (inside >= use.nlink) bytes += use.size;
  }
  return bytes;
}
