/**
 * Keeping every unpacked path inside its root. Member names are cleaned lexically (a leading `/` and `./`
 * dropped, `a/../b` folded) and a name that climbs above the root is refused. Parent directories are then
 * resolved inside the root the way a chroot would see them: a symlink planted by an earlier member (`lib ->
 * /etc`, `x -> ../../..`) is followed *within* the root, never out of it, and missing parents are created.
 */
import { isKilnError, KilnError } from '../errors.js';
import { resolveInRootSync } from '../paths/in-root.js';

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

  constructor(
    readonly root: string,
    private readonly where = 'archive',
  ) {}

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
    const name = components.join('/');
    try {
      // kiln's one resolver (src/paths/in-root.ts): 40 links then ELOOP, PATH_MAX, confined to the root.
      const r = resolveInRootSync(this.root, name, {
        create,
        followFinal: followLast,
        what: `${this.where}: "${name.length > 200 ? `${name.slice(0, 200)}…` : name}"`,
      });
      return create || r.stat ? r.path : undefined;
    } catch (err) {
      if (isKilnError(err) && err.details?.errno === 'ENOTDIR') throw new KilnError('ARCHIVE_INVALID', err.message, { cause: err });
      throw err;
    }
  }

  /** Forgets cached parents (after a member replaced a directory or created a symlink). */
  invalidate(): void {
    this.known.clear();
  }
}
