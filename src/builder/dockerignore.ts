/**
 * The context's ignore rules, as BuildKit picks them: `<Dockerfile>.dockerignore` beside the Dockerfile wins,
 * else `<context>/.dockerignore`. Lines are patterns, `#` starts a comment line; matching follows
 * moby/patternmatcher (src/builder/fileops/patterns.ts).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors.js';
import { createPatternMatcher, type PathMatcher } from './fileops/patterns.js';

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/** The patterns of a .dockerignore text. */
export function dockerignorePatterns(text: string): string[] {
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

/** The matcher for the build context, or undefined when there is no ignore file. Throws DOCKERIGNORE_INVALID. */
export async function loadDockerignore(contextDir: string, dockerfilePath: string): Promise<PathMatcher | undefined> {
  const candidates = [`${dockerfilePath}.dockerignore`, join(contextDir, '.dockerignore')];
  for (const file of candidates) {
    const text = await readIfExists(file);
    if (text === undefined) continue;
    try {
      const patterns = dockerignorePatterns(text);
      return patterns.length ? createPatternMatcher(patterns) : undefined;
    } catch (err) {
      throw new KilnError('DOCKERIGNORE_INVALID', `${file}: ${(err as Error).message}`, { cause: err });
    }
  }
  return undefined;
}
