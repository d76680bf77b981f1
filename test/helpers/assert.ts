/** Test helpers shared by unit and integration suites. */
import * as assert from 'uvu/assert';
import { isKilnError, type ErrorCode } from '../../src/errors.js';

/** uvu's `assert.throws` is synchronous; this awaits `fn` and checks it rejects with a KilnError of `code`. */
export async function rejects(fn: () => Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<Error> {
  try {
    await fn();
  } catch (err) {
    if (!isKilnError(err))
      throw new assert.Assertion({ message: `expected KilnError ${code}, got ${(err as Error)?.stack ?? err}`, generated: true, operator: 'rejects' } as any);
    assert.is(err.code, code, `expected code ${code}, got ${err.code}: ${err.message}`);
    if (message) assert.match(err.describe(), message);
    return err;
  }
  assert.unreachable(`expected rejection with ${code}`);
  throw new Error('unreachable');
}

/** Synchronous twin of `rejects`. */
export function throwsCode(fn: () => unknown, code: ErrorCode, message?: RegExp): Error {
  try {
    fn();
  } catch (err) {
    if (!isKilnError(err)) assert.unreachable(`expected KilnError ${code}, got ${(err as Error)?.stack ?? err}`);
    const k = err as any;
    assert.is(k.code, code, `expected code ${code}, got ${k.code}: ${k.message}`);
    if (message) assert.match(k.describe(), message);
    return k;
  }
  assert.unreachable(`expected a throw with ${code}`);
  throw new Error('unreachable');
}
