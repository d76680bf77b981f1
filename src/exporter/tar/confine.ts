/**
 * Keeping every unpacked path inside its root. Member names are cleaned lexically (a leading `/` and `./`
 * dropped, `a/../b` folded) and a name that climbs above the root is refused. Parent directories are then
 * resolved inside the root the way a chroot would see them: a symlink planted by an earlier member (`lib ->
 * /etc`, `x -> ../../..`) is followed *within* the root, never out of it, and missing parents are created.
 */
import { lstatSync, mkdirSync, readlinkSync } from 'node:fs';
import { KilnError } from '../../errors.js';

/** Symlink hops allowed while resolving one path (Linux's own limit). */
const MAX_HOPS = 40;

/**
 * The components of a member name inside the root; `[]` is the root itself. Throws UNSAFE_PATH when the name
 * climbs out (`../x`, `a/../../x`) or holds a NUL.
 */
export function cleanMemberName(name: string, where = 'archive'): string[] {
  if (name.includes('\0')) throw new KilnError('UNSAFE_PATH', `${where}: member name contains a NUL byte`);
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length === 0) throw new KilnError('UNSAFE_PATH', `${where}: member "${name}" points outside the target directory`);
      out.pop();
      continue;
    }
    out.push(c);
  }
  return out;
}

/**
 * Resolves parent directories under `root` with symlinks confined to it. Remembers directories it has
 * already checked (the hot path: most members share their parent with the one before).
 */
export class RootResolver {
  private readonly known = new Map<string, string>();

  constructor(readonly root: string, private readonly where = 'archive') {}

  /**
   * The absolute path of the directory holding `components` (all but the last), creating missing directories
   * (mode 0755). Throws ARCHIVE_INVALID when a parent is an existing non-directory.
   */
  parentOf(components: string[]): string {
    const key = components.slice(0, -1).join('/');
    const hit = this.known.get(key);
    if (hit !== undefined) return hit;
    const abs = this.resolve(components.slice(0, -1), true)!;
    this.known.set(key, abs);
    return abs;
  }

  /**
   * Where `components` lead inside the root, following symlinks in every component (the last one too when
   * `followLast`), confined to the root. Returns undefined when a component is missing and `create` is false.
   */
  resolve(components: string[], create: boolean, followLast = true): string | undefined {
    const cur: string[] = [];
    const queue = [...components];
    let hops = 0;
    while (queue.length > 0) {
      const c = queue.shift()!;
      if (c === '' || c === '.') continue;
      if (c === '..') {
        cur.pop(); // `..` at the root stays at the root, as in a chroot
        continue;
      }
      const path = this.join([...cur, c]);
      const st = lstatSync(path, { throwIfNoEntry: false });
      if (!st) {
        if (!create) return undefined;
        mkdirSync(path, { mode: 0o755 });
        cur.push(c);
        continue;
      }
      if (st.isSymbolicLink() && (followLast || queue.length > 0)) {
        if (++hops > MAX_HOPS) throw new KilnError('UNSAFE_PATH', `${this.where}: too many symlinks resolving "${components.join('/')}"`);
        const target = readlinkSync(path);
        if (target.startsWith('/')) cur.length = 0;
        queue.unshift(...target.split('/'));
        continue;
      }
      if (queue.length > 0 && !st.isDirectory()) {
        throw new KilnError('ARCHIVE_INVALID', `${this.where}: "${components.join('/')}": "${[...cur, c].join('/')}" is not a directory`);
      }
      cur.push(c);
    }
    return this.join(cur);
  }

  /** Forgets cached parents (after a member replaced a directory or created a symlink). */
  invalidate(): void {
    this.known.clear();
  }

  private join(components: string[]): string {
    return components.length === 0 ? this.root : `${this.root}/${components.join('/')}`;
  }
}
