/**
 * Tests that cannot run in this environment are skipped visibly, never passed. `skipIf(cond, reason)` gives a
 * function that registers a test as usual, or, when `cond` holds, as uvu's `test.skip` (uvu counts it under
 * "Skipped", outside its Total, so it can never count as passed) and prints a `[skip]` line with the reason, which
 * scripts/run-tests.mjs repeats in its summary.
 *
 * Use it only for what the environment may lack legitimately (root for a unit test, a filesystem feature). A tool
 * that scripts/setup.sh installs is a requirement: a test that needs it should fail without it, not skip.
 */
import { test as uvuTest, type Callback, type Test } from 'uvu';

/** The prefix the runner looks for; keep in step with scripts/run-tests.mjs. */
export const SKIP_MARK = '[skip]';

export function skipIf<T = Record<string, any>>(cond: boolean, reason: string, suite: Test<T> = uvuTest as unknown as Test<T>) {
  return (name: string, fn: Callback<T>): void => {
    if (!cond) return suite(name, fn);
    process.stdout.write(`${SKIP_MARK} ${name}: ${reason}\n`);
    suite.skip(name, fn);
  };
}

/** True when this process runs as root (chown, mknod, trusted.* xattrs, overlay mounts). */
export const isRoot = process.getuid?.() === 0;
