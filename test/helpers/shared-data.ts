/**
 * Where the shared conformance data lives: `shared/conformance` beside the checkout (`../shared`), or beside one of
 * its ancestors (a git worktree sits one level deeper), or KILN_SHARED_CONFORMANCE. When none exists the path beside
 * the checkout is returned, so the tests that read it fail naming the path instead of quietly finding no cases.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function locate(): string {
  if (process.env.KILN_SHARED_CONFORMANCE) return resolve(process.env.KILN_SHARED_CONFORMANCE);
  const repo = fileURLToPath(new URL('../..', import.meta.url));
  for (let dir = dirname(resolve(repo)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'shared', 'conformance', 'cases'))) return join(dir, 'shared', 'conformance');
    if (dirname(dir) === dir) return join(dirname(resolve(repo)), 'shared', 'conformance');
  }
}

/** The shared conformance folder (`cases/`, `data/`), absolute, without a trailing slash. */
export const SHARED_CONFORMANCE = locate();
export const CONFORMANCE_CASES = join(SHARED_CONFORMANCE, 'cases');
export const CONFORMANCE_DATA = join(SHARED_CONFORMANCE, 'data');
