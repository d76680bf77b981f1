/**
 * COPY/ADD source wildcards with Go's `filepath.Match` semantics, which is what BuildKit (fsutil) uses:
 * `*` any run of non-`/` characters (dot files included, unlike a shell), `?` one non-`/` character, `[...]`
 * classes with `^` negation and `a-z` ranges, `\` escapes the next character. `**` is just two stars.
 * Resolution walks the directory below the first wildcard component and matches whole relative paths, stopping at
 * a matching directory (fsutil's resolveWildcards), in lexical order.
 */
import { lstatSync, readdirSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import { KilnError } from '../../errors.js';
import { resolveInRoot } from './root-path.js';

/** True when `p` has an unescaped `*`, `?` or `[` (fsutil's containsWildcards). */
export function hasWildcards(p: string): boolean {
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '\\') i++;
    else if (c === '*' || c === '?' || c === '[') return true;
  }
  return false;
}

/** Removes glob escapes from a literal path component: `n\?pe` → `n?pe`. */
export function unescapeGlob(p: string): string {
  return p.replace(/\\(.)/g, '$1');
}

interface ClassResult {
  end: number;
  ok: boolean;
}

/** Matches one character class starting at `p[i] === '['` against `ch`; throws on a malformed class. */
function matchClass(p: string, i: number, ch: string, pattern: string): ClassResult {
  let j = i + 1;
  let negate = false;
  if (p[j] === '^') {
    negate = true;
    j++;
  }
  let matched = false;
  let n = 0;
  for (;;) {
    if (j >= p.length) throw badPattern(pattern);
    if (p[j] === ']' && n > 0) {
      j++;
      break;
    }
    let lo: string;
    [lo, j] = classChar(p, j, pattern);
    let hi = lo;
    if (p[j] === '-') {
      [hi, j] = classChar(p, j + 1, pattern);
    }
    if (lo <= ch && ch <= hi) matched = true;
    n++;
  }
  return { end: j, ok: matched !== negate };
}

function classChar(p: string, j: number, pattern: string): [string, number] {
  const c = p[j];
  if (c === undefined || c === '-' || c === ']') throw badPattern(pattern);
  if (c === '\\') {
    if (j + 1 >= p.length) throw badPattern(pattern);
    return [p[j + 1], j + 2];
  }
  return [c, j + 1];
}

function badPattern(pattern: string): KilnError {
  return new KilnError('INVALID_ARGUMENT', `syntax error in pattern: ${pattern}`);
}

/** Checks a pattern for Go's ErrBadPattern cases up front, so a bad pattern fails even when nothing is tried. */
export function validatePattern(pattern: string): void {
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      if (i + 1 >= pattern.length) throw badPattern(pattern);
      i++;
    } else if (c === '[') {
      i = matchClass(pattern, i, '\0', pattern).end - 1;
    }
  }
}

/** Go's filepath.Match(pattern, name) on `/`-separated paths. Throws INVALID_ARGUMENT for a malformed pattern. */
export function goMatch(pattern: string, name: string): boolean {
  validatePattern(pattern);
  return matchAt(pattern, 0, name, 0);
}

function matchAt(p: string, pi: number, s: string, si: number): boolean {
  while (pi < p.length) {
    const c = p[pi];
    if (c === '*') {
      while (p[pi] === '*') pi++;
      if (pi === p.length) return !s.slice(si).includes('/');
      for (let k = si; k <= s.length; k++) {
        if (matchAt(p, pi, s, k)) return true;
        if (s[k] === '/') break;
      }
      return false;
    }
    if (si >= s.length) return false;
    if (c === '?') {
      if (s[si] === '/') return false;
    } else if (c === '[') {
      const r = matchClass(p, pi, s[si], p);
      if (!r.ok) return false;
      pi = r.end;
      si++;
      continue;
    } else {
      const lit = c === '\\' ? p[++pi] : c;
      if (s[si] !== lit) return false;
    }
    pi++;
    si++;
  }
  return si === s.length;
}

/** Splits at the first component holding a wildcard: `a/b/*.txt/c` → [`a/b`, `*.txt/c`]. */
export function splitWildcards(p: string): [string, string] {
  const parts = p.split('/');
  const idx = parts.findIndex((part) => hasWildcards(part));
  if (idx < 0) return [p, ''];
  return [
    parts.slice(0, idx).join('/') || (p.startsWith('/') ? '/' : '.'),
    parts
      .slice(idx)
      .filter((x) => x !== '')
      .join('/'),
  ];
}

/**
 * The source-root-relative paths (`/`-separated, no leading `/`) a COPY source pattern matches, in lexical order.
 * `skip(rel, isDir)` hides paths (a `.dockerignore`d file does not exist for the build; an ignored directory only
 * when no exception can re-include something below it). The directory part before
 * the first wildcard is resolved inside the root (its symlinks followed, confined); matches are not followed here.
 */
export function resolveWildcards(root: string, pattern: string, skip?: (rel: string, isDir: boolean) => boolean): string[] {
  const [base, rest] = splitWildcards(pattern);
  if (rest === '') return [posix.normalize(`/${pattern}`).slice(1)];
  validatePattern(rest);
  const baseHost = resolveInRoot(root, base);
  const baseRel = relative(root, baseHost).split('\\').join('/');
  const out: string[] = [];
  const walk = (dirHost: string, relToBase: string): void => {
    let names: string[];
    try {
      names = readdirSync(dirHost).sort();
    } catch {
      return;
    }
    for (const name of names) {
      const rel = relToBase === '' ? name : `${relToBase}/${name}`;
      const host = join(dirHost, name);
      const isDir = lstatSync(host).isDirectory();
      const rootRel = baseRel === '' ? rel : `${baseRel}/${rel}`;
      // `skip` answers for files and for directories nothing below could be re-included from.
      if (skip && skip(rootRel, isDir)) continue;
      if (matchAt(rest, 0, rel, 0)) {
        out.push(rootRel);
        continue;
      }
      // Only descend while the pattern could still match deeper paths.
      if (isDir && rest.split('/').length > rel.split('/').length) walk(host, rel);
    }
  };
  walk(baseHost, '');
  return out;
}
