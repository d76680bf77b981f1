/**
 * The context's ignore rules, as BuildKit picks them: `<Dockerfile>.dockerignore` beside the Dockerfile wins,
 * else `<context>/.dockerignore`. Lines are read as moby/patternmatcher's ignorefile.ReadAll reads them; matching
 * follows moby/patternmatcher (src/builder/fileops/patterns.ts).
 *
 * Both files are read inside a root (fileops/read-in-root.ts): a `.dockerignore` that is a symlink to a host file
 * is confined to the context like every other context path, never read from the host.
 */
import { KilnError } from '../errors.js';
import { createPatternMatcher, type PathMatcher } from './fileops/patterns.js';
import { readFileInRoot } from './fileops/read-in-root.js';

/**
 * Where the Dockerfile is: `path` (slash-separated) inside `root`. For a Dockerfile of the context, `root` is the
 * context; for a Dockerfile the user named on this host (`-f`), `root` is its directory (BuildKit's `dockerfile`
 * local), so `<name>.dockerignore` is looked up there and confined to it.
 */
export interface DockerfileLocation {
  root: string;
  path: string;
}

/** Go's path.Clean for slash paths (ignorefile.ReadAll cleans each pattern with it). */
function cleanPath(p: string): string {
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
  return rooted ? `/${s}` : s === '' ? '.' : s;
}

/**
 * The patterns of a .dockerignore text, as ignorefile.ReadAll returns them: a UTF-8 BOM dropped, a line starting
 * with `#` is a comment (only in the first column), lines trimmed, blanks dropped, each pattern cleaned and a
 * leading `/` removed (`!` kept in front).
 */
export function dockerignorePatterns(text: string): string[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const out: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith('#')) continue;
    let p = line.trim();
    if (p === '') continue;
    const invert = p.startsWith('!');
    if (invert) p = p.slice(1).trim();
    if (p.length > 0) {
      p = cleanPath(p);
      if (p.length > 1 && p.startsWith('/')) p = p.slice(1);
    }
    out.push(invert ? `!${p}` : p);
  }
  return out;
}

/** The matcher for `patterns`, or undefined when there are none. Throws DOCKERIGNORE_INVALID naming `file`. */
export function dockerignoreMatcher(patterns: readonly string[], file = '.dockerignore'): PathMatcher | undefined {
  if (patterns.length === 0) return undefined;
  try {
    return createPatternMatcher(patterns);
  } catch (err) {
    throw new KilnError('DOCKERIGNORE_INVALID', `${file}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The ignore file's text and its name (relative to its root, for messages), or undefined when there is none.
 * Throws DOCKERIGNORE_INVALID when a candidate exists but cannot be read as a file.
 */
export async function readDockerignore(contextDir: string, dockerfile: DockerfileLocation): Promise<{ text: string; file: string } | undefined> {
  const candidates = [
    { root: dockerfile.root, file: `${dockerfile.path}.dockerignore` },
    { root: contextDir, file: '.dockerignore' },
  ];
  for (const c of candidates) {
    let data: Buffer | undefined;
    try {
      data = await readFileInRoot(c.root, c.file);
    } catch (err) {
      throw new KilnError('DOCKERIGNORE_INVALID', (err as Error).message, { cause: err });
    }
    if (data !== undefined) return { text: data.toString('utf8'), file: c.file };
  }
  return undefined;
}

/** The matcher for the build context, or undefined when there is no ignore file. Throws DOCKERIGNORE_INVALID. */
export async function loadDockerignore(contextDir: string, dockerfile: DockerfileLocation): Promise<PathMatcher | undefined> {
  const found = await readDockerignore(contextDir, dockerfile);
  return found && dockerignoreMatcher(dockerignorePatterns(found.text), found.file);
}
