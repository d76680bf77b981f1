/**
 * `.dockerignore` with the semantics of moby/patternmatcher (what BuildKit and the docker CLI use):
 * one pattern a line, `#` comments, `!` exceptions, the last matching pattern wins, `**` for any number of
 * directories, `*`/`?`/`[…]` within one path element, leading `/` and `./` cleaned, and a path is excluded
 * when it or one of its parent directories matches ("MatchesOrParentMatches").
 *
 * `<Dockerfile>.dockerignore` beside the Dockerfile takes precedence over `<context>/.dockerignore`.
 */
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { KilnError } from '../errors.js';

/** Go's path.Clean for slash paths. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const s = out.join('/');
  return rooted ? '/' + s : s === '' ? '.' : s;
}

function goDir(p: string): string {
  const i = p.lastIndexOf('/');
  return cleanPath(i < 0 ? '' : p.slice(0, i + 1));
}

/** Checks a pattern the way Go's filepath.Match reports ErrBadPattern. */
function validateGlob(p: string): boolean {
  const chars = Array.from(p);
  let i = 0;
  const getEsc = (): boolean => {
    if (i >= chars.length || chars[i] === '-' || chars[i] === ']') return false;
    if (chars[i] === '\\') {
      i++;
      if (i >= chars.length) return false;
    }
    i++;
    return i < chars.length;
  };
  while (i < chars.length) {
    const c = chars[i]!;
    if (c === '\\') {
      i++;
      if (i >= chars.length) return false;
      i++;
    } else if (c === '[') {
      i++;
      if (chars[i] === '^') i++;
      let nrange = 0;
      for (;;) {
        if (i < chars.length && chars[i] === ']' && nrange > 0) {
          i++;
          break;
        }
        if (!getEsc()) return false;
        if (chars[i] === '-') {
          i++;
          if (!getEsc()) return false;
        }
        nrange++;
      }
    } else i++;
  }
  return true;
}

type MatchType = 'exact' | 'prefix' | 'suffix' | 'regexp';

interface Pattern {
  text: string;
  exclusion: boolean;
  type: MatchType;
  re?: RegExp;
  dirs: string[];
}

const SHOULD_ESCAPE = new Set(['.', '+', '(', ')', '|', '{', '}', '$']);

/** A character matched literally, escaped only when the regexp syntax needs it (`u` mode rejects other escapes). */
function literal(ch: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(ch) ? '\\' + ch : ch;
}

function compile(text: string, exclusion: boolean): Pattern {
  const chars = Array.from(text);
  let re = '^';
  let type: MatchType = 'exact';
  // Inside `[...]` characters are class members; validateGlob() has checked the brackets balance.
  let inClass = false;
  for (let i = 0, k = 0; k < chars.length; i++) {
    const ch = chars[k++]!;
    if (inClass) {
      if (ch === ']') inClass = false;
      if (ch === '\\') {
        const e = chars[k++] ?? '\\';
        re += /[\\\]\-^[]/.test(e) ? '\\' + e : e;
        continue;
      }
      re += ch === '*' || ch === '?' || ch === '[' ? '\\' + ch : ch;
      continue;
    }
    if (ch === '*') {
      if (chars[k] === '*') {
        k++;
        if (chars[k] === '/') k++;
        if (k >= chars.length) {
          if (type === 'exact') type = 'prefix';
          else {
            re += '.*';
            type = 'regexp';
          }
        } else {
          re += '(.*/)?';
          type = 'regexp';
        }
        if (i === 0) type = 'suffix';
      } else {
        re += '[^/]*';
        type = 'regexp';
      }
    } else if (ch === '?') {
      re += '[^/]';
      type = 'regexp';
    } else if (SHOULD_ESCAPE.has(ch) || ch === '^' || ch === ']') {
      re += '\\' + ch;
    } else if (ch === '\\') {
      // An escaped character is matched literally; the pattern text no longer equals the path, so use the regexp.
      re += k < chars.length ? literal(chars[k++]!) : '\\\\';
      type = 'regexp';
    } else if (ch === '[') {
      re += '[';
      if (chars[k] === '^') {
        re += '^';
        k++;
      }
      inClass = true;
      type = 'regexp';
    } else {
      re += ch;
    }
  }
  const p: Pattern = { text, exclusion, type, dirs: text.split('/') };
  if (type === 'regexp') {
    try {
      p.re = new RegExp(re + '$', 'u');
    } catch (err) {
      // e.g. a reversed range `[z-a]`, which Go's regexp rejects too.
      throw new KilnError('DOCKERIGNORE_INVALID', `syntax error in pattern ${JSON.stringify(text)}: ${(err as Error).message}`);
    }
  }
  return p;
}

function matchOne(p: Pattern, path: string): boolean {
  switch (p.type) {
    case 'exact':
      return path === p.text;
    case 'prefix':
      return path.startsWith(p.text.slice(0, -2));
    case 'suffix': {
      const suffix = p.text.slice(2);
      if (path.endsWith(suffix)) return true;
      return suffix.startsWith('/') && path === suffix.slice(1);
    }
    case 'regexp':
      return p.re!.test(path);
  }
}

/** A compiled `.dockerignore`. Paths are relative to the context root, `/`-separated. */
export interface IgnoreMatcher {
  /** The normalized patterns it was built from. */
  readonly patterns: readonly string[];
  /** Whether any `!` exception exists. */
  readonly hasExclusions: boolean;
  /** True when the path is excluded (it or a parent directory matches, last match wins). */
  matches(relPath: string): boolean;
  /**
   * True when `relDir` is excluded and no `!` exception could re-include anything below it, so a directory
   * walker may skip it without reading it. False means: descend and ask `matches()` per entry.
   */
  canSkipDir(relDir: string): boolean;
}

function hasGlob(seg: string): boolean {
  return /[*?[\\]/.test(seg);
}

/**
 * Compiles patterns (as `parseDockerignore` returns them). Throws DOCKERIGNORE_INVALID for a malformed
 * pattern (`[`, `[]a]`, trailing `\`, a lone `!`).
 */
export function createIgnoreMatcher(patterns: readonly string[]): IgnoreMatcher {
  const compiled: Pattern[] = [];
  for (const raw of patterns) {
    let p = raw.trim();
    if (p === '') continue;
    p = cleanPath(p);
    let exclusion = false;
    if (p[0] === '!') {
      if (p.length === 1) throw new KilnError('DOCKERIGNORE_INVALID', 'illegal exclusion pattern: "!"');
      exclusion = true;
      p = p.slice(1);
    }
    if (!validateGlob(p)) throw new KilnError('DOCKERIGNORE_INVALID', `syntax error in pattern ${JSON.stringify(raw)}`);
    compiled.push(compile(p, exclusion));
  }
  const exclusions = compiled.filter((p) => p.exclusion);

  const matches = (file: string): boolean => {
    let matched = false;
    const parent = goDir(file);
    const parentDirs = parent.split('/');
    for (const p of compiled) {
      // An inclusion cannot change an already excluded path, nor an exception an included one.
      if (p.exclusion !== matched) continue;
      let m = matchOne(p, file);
      if (!m && parent !== '.') {
        for (let i = 0; i < parentDirs.length && !m; i++) m = matchOne(p, parentDirs.slice(0, i + 1).join('/'));
      }
      if (m) matched = !p.exclusion;
    }
    return matched;
  };

  const mayReinclude = (dir: string): boolean => {
    const segs = dir.split('/');
    return exclusions.some((p) => {
      if (p.text.startsWith('**')) return true;
      for (let i = 0; i < Math.min(segs.length, p.dirs.length); i++) {
        const ps = p.dirs[i]!;
        if (ps.startsWith('**') || hasGlob(ps)) return true;
        if (ps !== segs[i]) return false;
      }
      return true;
    });
  };

  return {
    patterns: compiled.map((p) => (p.exclusion ? '!' : '') + p.text),
    hasExclusions: exclusions.length > 0,
    matches,
    canSkipDir: (dir) => {
      const d = cleanPath(dir);
      return matches(d) && !mayReinclude(d);
    },
  };
}

/** Reads `.dockerignore` text into patterns (docker CLI rules: comments, trimming, leading `/` removed). */
export function parseDockerignore(text: string): string[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const out: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith('#')) continue;
    let p = line.trim();
    if (p === '') continue;
    const invert = p[0] === '!';
    if (invert) p = p.slice(1).trim();
    if (p.length > 0) {
      p = cleanPath(p);
      if (p.length > 1 && p[0] === '/') p = p.slice(1);
    }
    out.push(invert ? '!' + p : p);
  }
  return out;
}

async function readIfExists(path: string, signal?: AbortSignal): Promise<string | undefined> {
  try {
    return await readFile(path, { encoding: 'utf8', signal });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new KilnError('DOCKERIGNORE_INVALID', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The ignore patterns for a build: `<dockerfile>.dockerignore` beside the Dockerfile if it exists, else
 * `<contextDir>/.dockerignore`, else none. `source` names the file used.
 */
export async function loadIgnorePatterns(
  contextDir: string,
  dockerfilePath?: string,
  opts: { signal?: AbortSignal } = {},
): Promise<{ patterns: string[]; source?: string }> {
  if (dockerfilePath) {
    const specific = join(dirname(dockerfilePath), basename(dockerfilePath) + '.dockerignore');
    const text = await readIfExists(specific, opts.signal);
    if (text !== undefined) return { patterns: parseDockerignore(text), source: specific };
  }
  const general = join(contextDir, '.dockerignore');
  const text = await readIfExists(general, opts.signal);
  if (text !== undefined) return { patterns: parseDockerignore(text), source: general };
  return { patterns: [] };
}
