/**
 * `.dockerignore`-style path patterns (moby/patternmatcher), used for `COPY --exclude` and the include pattern of
 * `COPY --parents`: `*` and `?` stay inside one component, `**` spans any number of them, `!pattern` re-includes,
 * the last matching pattern wins, and a pattern that matches a parent directory matches everything below it.
 * The build context's `.dockerignore` matcher (src/parser/dockerignore.ts) satisfies the same PathMatcher shape.
 */
import { posix } from 'node:path';
import { KilnError } from '../../errors.js';
import { validatePattern } from './glob.js';

/** A path filter over `/`-separated paths relative to some base (no leading `/`). */
export interface PathMatcher {
  /** True when `relPath` is matched (ignored, excluded, included — depending on the use). */
  matches(relPath: string): boolean;
  /** True when some pattern starts with `!`: a matched directory may still contain unmatched paths. */
  readonly hasExclusions: boolean;
}

interface Compiled {
  re: RegExp;
  exclusion: boolean;
}

const REGEX_SPECIAL = new Set(['.', '+', '(', ')', '|', '{', '}', '$']);

function compile(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') i++;
        re += i + 1 >= pattern.length ? '.*' : '(.*/)?';
      } else {
        re += '[^/]*';
      }
    } else if (c === '?') {
      re += '[^/]';
    } else if (REGEX_SPECIAL.has(c)) {
      re += `\\${c}`;
    } else if (c === '\\') {
      if (i + 1 < pattern.length) re += `\\${pattern[++i]}`;
      else re += '\\\\';
    } else {
      re += c;
    }
  }
  re += '$';
  try {
    return new RegExp(re, 's');
  } catch (err) {
    throw new KilnError('INVALID_ARGUMENT', `invalid pattern ${JSON.stringify(pattern)}`, { cause: err });
  }
}

/**
 * Builds a matcher from patterns as written (blank ones skipped, each cleaned, a leading `/` dropped).
 * Throws INVALID_ARGUMENT for a malformed pattern or a lone `!`.
 */
export function createPatternMatcher(patterns: readonly string[]): PathMatcher {
  const compiled: Compiled[] = [];
  for (const raw of patterns) {
    let p = raw.trim();
    if (p === '') continue;
    let exclusion = false;
    if (p.startsWith('!')) {
      if (p.length === 1) throw new KilnError('INVALID_ARGUMENT', 'illegal exclusion pattern: "!"');
      exclusion = true;
      p = p.slice(1);
    }
    p = posix.normalize(p).replace(/^\/+/, '').replace(/\/+$/, '');
    if (p === '') p = '.';
    validatePattern(p); // patternmatcher rejects what filepath.Match would (unclosed classes, a trailing `\`)
    compiled.push({ re: compile(p), exclusion });
  }
  const hasExclusions = compiled.some((c) => c.exclusion);
  return {
    hasExclusions,
    matches(relPath: string): boolean {
      const file = posix.normalize(relPath);
      const parents = file.split('/');
      parents.pop();
      let matched = false;
      for (const pat of compiled) {
        if (pat.exclusion !== matched) continue;
        let m = pat.re.test(file);
        for (let i = 1; !m && i <= parents.length; i++) m = pat.re.test(parents.slice(0, i).join('/'));
        if (m) matched = !pat.exclusion;
      }
      return matched;
    },
  };
}

/** Adapts a plain predicate (a `.dockerignore` matcher, say) to a PathMatcher. */
export function matcherFrom(fn: (relPath: string) => boolean, hasExclusions = true): PathMatcher {
  return { matches: fn, hasExclusions };
}
