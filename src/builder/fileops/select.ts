/**
 * Which files a COPY/ADD reads: source patterns resolved inside their root (wildcards, symlinks followed for the
 * named source, `.dockerignore`, `--exclude`, `--parents` include patterns), each source expanded into a sorted
 * pre-order list of entries. Both the cache checksum (checksum.ts) and the copy itself (copy.ts) consume this one
 * selection, so the key always covers exactly the files the copy writes.
 *
 * Hot path: one native call per directory (scan.ts: readdir + fstatat on a worker thread; without the helper, Node's
 * readdir + lstat). A directory's subdirectories that the walk will enter are scanned side by side while it goes
 * through them in order: per file, Node's async fs cost 3–4x the synchronous calls in promise overhead, but one
 * promise per directory is nothing, and the thread pool spreads the fstatat calls over the cores.
 */
import { posix, relative } from 'node:path';
import { KilnError } from '../../errors.js';
import { hasWildcards, resolveWildcards, splitWildcards, unescapeGlob } from './glob.js';
import { createPatternMatcher, type PathMatcher } from './patterns.js';
import { lstatOrUndefined, resolveInRoot } from './root-path.js';
import { scanDirectoryAsync, type FileStat, type ScannedEntry } from './scan.js';

/** One file, directory, symlink or special file of a selected source. */
export interface Entry {
  /** Path relative to the selected source, `/`-separated; `''` is the source itself. */
  rel: string;
  /** Host path. */
  abs: string;
  /** lstat of `abs` (symlinks inside a source are never followed). */
  st: FileStat;
}

/** One match of a source pattern. */
export interface SelectedSource {
  /** The pattern as written in the Dockerfile (after variable expansion). */
  pattern: string;
  /** Root-relative path of the match as named (before following a symlink), `''` for the root itself. */
  path: string;
  /** Host path after following symlinks inside the root. */
  abs: string;
  /** The source itself (`rel === ''`) first, then, for a directory, everything selected below it in sorted order. */
  entries: Entry[];
}

export interface SelectOptions {
  /** `.dockerignore` over root-relative paths (context sources only): matched paths do not exist for the build. */
  ignore?: PathMatcher;
  /** `--exclude` patterns, matched against paths relative to each copied source (and to the wildcard's base). */
  exclude?: readonly string[];
  /** `--parents`: keep each source's path (below an optional `/./` pivot) under the destination. */
  parents?: boolean;
  /** Follow a symlink named as a source (default true, as the Dockerfile frontend asks of BuildKit). */
  followLinks?: boolean;
}

/** Source pattern → the directory copied and its include pattern, for `--parents` (BuildKit's pivot rule). */
export function parentsSplit(pattern: string): { base: string; include: string } {
  const pivot = pattern.indexOf('/./');
  if (pivot >= 0) return { base: pattern.slice(0, pivot) || '/', include: posix.normalize(`/${pattern.slice(pivot + 3)}`).slice(1) };
  return { base: '/', include: posix.normalize(`/${pattern}`).slice(1) };
}

/**
 * Resolves every source pattern inside `root`. A pattern without wildcards must exist (COPY_SOURCE_NOT_FOUND);
 * a wildcard that matches nothing selects nothing, as BuildKit allows for Dockerfile COPY/ADD.
 */
export async function selectSources(root: string, patterns: readonly string[], opts: SelectOptions = {}): Promise<SelectedSource[]> {
  const exclude = opts.exclude && opts.exclude.length > 0 ? createPatternMatcher(opts.exclude) : undefined;
  const out: SelectedSource[] = [];
  for (const pattern of patterns) {
    let base = pattern;
    let include: PathMatcher | undefined;
    if (opts.parents) {
      const split = parentsSplit(pattern);
      base = split.base;
      include = createPatternMatcher([split.include]);
      if (!hasWildcards(pattern)) requireExists(root, posix.join(base, split.include), pattern, opts);
    }
    const ig = opts.ignore;
    const skip = ig ? (rel: string, isDir: boolean) => ig.matches(rel) && !(isDir && ig.hasExclusions) : undefined;
    const wild = hasWildcards(base);
    const matches = wild ? resolveWildcards(root, base, skip) : [posix.normalize(`/${base}`).slice(1)];
    const wildBase = wild ? posix.normalize(`/${splitWildcards(base)[0]}`).slice(1) : '';
    for (const match of matches) {
      if (wild && exclude && exclude.matches(posix.relative(`/${wildBase}`, `/${match}`))) continue;
      const named = wild ? match : unescapeGlob(match);
      const abs = resolveInRoot(root, named, { followFinal: opts.followLinks ?? true });
      const st = lstatOrUndefined(abs);
      const rootRel = relative(root, abs);
      if (!st || (rootRel !== '' && isIgnored(opts.ignore, rootRel, named, st))) {
        if (wild) continue;
        throw notFound(pattern);
      }
      const entries: Entry[] = [{ rel: '', abs, st }];
      const found = st.isDirectory() && (await walk(abs, '', rootRel, { ignore: opts.ignore, exclude, include }, entries, scanDirectoryAsync(abs)));
      // An ignored directory exists for the build only as the parent of something an exception re-includes.
      if (!found && rootRel !== '' && opts.ignore?.matches(rootRel)) {
        if (wild) continue;
        throw notFound(pattern);
      }
      out.push({ pattern, path: named, abs, entries });
    }
  }
  return out;
}

function isIgnored(ignore: PathMatcher | undefined, rootRel: string, named: string, st: FileStat): boolean {
  if (!ignore) return false;
  const hit = ignore.matches(rootRel) || (named !== rootRel && named !== '' && ignore.matches(named));
  // An ignored directory still exists when an exception re-includes something below it.
  return hit && !(st.isDirectory() && ignore.hasExclusions);
}

function requireExists(root: string, p: string, pattern: string, opts: SelectOptions): void {
  const abs = resolveInRoot(root, p);
  const st = lstatOrUndefined(abs);
  const rootRel = relative(root, abs);
  if (!st || (rootRel !== '' && isIgnored(opts.ignore, rootRel, p, st))) throw notFound(pattern);
}

function notFound(pattern: string): KilnError {
  return new KilnError('COPY_SOURCE_NOT_FOUND', `failed to compute cache key: "${posix.normalize(`/${pattern}`)}": not found`, {
    hint: 'the path must exist in the build context (and not be excluded by .dockerignore) or in the --from stage',
  });
}

interface Filters {
  ignore?: PathMatcher;
  exclude?: PathMatcher;
  include?: PathMatcher;
}

/**
 * Appends the selected entries below `dirAbs` (whose scan is `scanning`); returns whether anything was appended.
 * The subdirectories it will enter are scanned at once, each awaited when the walk reaches it.
 */
async function walk(dirAbs: string, rel: string, rootRel: string, f: Filters, out: Entry[], scanning: Promise<ScannedEntry[]>): Promise<boolean> {
  const prefix = dirAbs.endsWith('/') ? dirAbs : `${dirAbs}/`;
  const scanned = await scanning;
  const children: Array<{ rel: string; rootRel: string; abs: string; st: FileStat; selected: boolean; scan?: Promise<ScannedEntry[]> }> = [];
  for (const { name, st } of scanned) {
    const childRel = rel === '' ? name : `${rel}/${name}`;
    const childRootRel = rootRel === '' ? name : `${rootRel}/${name}`;
    const abs = prefix + name; // hot path: path.join's normalising showed in profiles (names hold no '/')
    const ignored = f.ignore?.matches(childRootRel) ?? false;
    const excluded = f.exclude?.matches(childRel) ?? false;
    const included = f.include ? f.include.matches(childRel) : true;
    const selected = included && !ignored && !excluded;
    if (!selected) {
      if (!st.isDirectory()) continue;
      if (ignored && !f.ignore!.hasExclusions) continue;
      if (excluded && !f.exclude!.hasExclusions) continue;
      // Not selected itself, but something below may be: it is then copied as a parent directory.
    }
    const child = { rel: childRel, rootRel: childRootRel, abs, st, selected, scan: st.isDirectory() ? scanDirectoryAsync(abs) : undefined };
    // A scan that fails is rejected when the walk reaches it; until then nobody awaits it.
    child.scan?.catch(() => {});
    children.push(child);
  }
  let any = false;
  for (const c of children) {
    if (c.selected) {
      out.push({ rel: c.rel, abs: c.abs, st: c.st });
      any = true;
      if (c.scan) await walk(c.abs, c.rel, c.rootRel, f, out, c.scan);
      continue;
    }
    const mark = out.length;
    out.push({ rel: c.rel, abs: c.abs, st: c.st });
    if (await walk(c.abs, c.rel, c.rootRel, f, out, c.scan!)) any = true;
    else out.length = mark;
  }
  return any;
}
