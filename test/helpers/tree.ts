/**
 * A file tree as a sorted listing that two builders' results can be compared by: path, type, mode bits (incl.
 * setuid/setgid/sticky), owner, size, content digest and link target. Times are left out on purpose: builders
 * legitimately differ in directory mtimes, and kiln's own reproducibility tests check times separately.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';

export interface TreeEntry {
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';
  mode: string;
  uid: number;
  gid: number;
  size?: number;
  sha256?: string;
  link?: string;
  /** For files with more than one link: the first path (in sort order) of the same inode within the tree. */
  hardlinkOf?: string;
}

function typeOf(st: import('node:fs').Stats): TreeEntry['type'] {
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isDirectory()) return 'dir';
  if (st.isFile()) return 'file';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Lists every entry below `root` (not `root` itself), sorted by path. `skip` drops paths (and their subtrees). */
export async function listTree(root: string, skip: (path: string) => boolean = () => false): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  const inodes = new Map<string, string>();
  async function walk(rel: string): Promise<void> {
    const names = (await readdir(join(root, rel))).sort();
    for (const name of names) {
      const path = rel ? `${rel}/${name}` : name;
      if (skip(path)) continue;
      const abs = join(root, path);
      const st = await lstat(abs);
      const entry: TreeEntry = {
        path,
        type: typeOf(st),
        mode: (st.mode & 0o7777).toString(8).padStart(4, '0'),
        uid: st.uid,
        gid: st.gid,
      };
      if (entry.type === 'file') {
        entry.size = st.size;
        entry.sha256 = await sha256File(abs);
        if (st.nlink > 1) {
          const key = `${st.dev}:${st.ino}`;
          const first = inodes.get(key);
          if (first) entry.hardlinkOf = first;
          else inodes.set(key, path);
        }
      } else if (entry.type === 'symlink') {
        entry.link = await readlink(abs);
      }
      out.push(entry);
      if (entry.type === 'dir') await walk(path);
    }
  }
  await walk('');
  return out;
}

/** Human-readable differences between two listings (empty when equal). */
export function diffTrees(expected: TreeEntry[], actual: TreeEntry[]): string[] {
  const a = new Map(expected.map((e) => [e.path, e]));
  const b = new Map(actual.map((e) => [e.path, e]));
  const out: string[] = [];
  for (const [path, e] of a) {
    const k = b.get(path);
    if (!k) {
      out.push(`missing: ${path} (${e.type})`);
      continue;
    }
    for (const field of ['type', 'mode', 'uid', 'gid', 'size', 'sha256', 'link', 'hardlinkOf'] as const) {
      if (e[field] !== k[field]) out.push(`${path}: ${field} expected ${e[field]} got ${k[field]}`);
    }
  }
  for (const [path, k] of b) if (!a.has(path)) out.push(`unexpected: ${path} (${k.type})`);
  return out;
}
