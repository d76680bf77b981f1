import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KilnError, exitCodeOf, httpStatusOf } from '../../src/errors.js';
import { reportError } from '../../src/cli/main.js';

test('KilnError.describe() prefixes file:line when a location is known', () => {
  const err = new KilnError('DOCKERFILE_UNKNOWN_INSTRUCTION', 'unknown instruction "RUNN"', { hint: 'did you mean RUN?' });
  assert.is(err.describe(), 'unknown instruction "RUNN"');
  err.at({ file: 'Dockerfile', line: 12 });
  assert.is(err.describe(), 'Dockerfile:12: unknown instruction "RUNN"');
  err.at({ file: 'other', line: 1 });
  assert.is(err.loc?.line, 12, 'at() keeps the first location');
});

test('error categories map to exit and HTTP statuses', () => {
  assert.is(new KilnError('IMAGE_NOT_FOUND', 'x').httpStatus, 404);
  assert.is(new KilnError('IMAGE_NOT_FOUND', 'x').exitCode, 3);
  assert.is(new KilnError('DOCKERFILE_SYNTAX', 'x').httpStatus, 400);
  assert.is(new KilnError('BUILD_STEP_FAILED', 'x', { exitCode: 42 }).exitCode, 42);
  assert.is(httpStatusOf(new Error('bug')), 500);
  assert.is(exitCodeOf(new Error('bug')), 70);
});

test('reportError() prints a user error without a stack', () => {
  const writes: string[] = [];
  const orig = process.stderr.write.bind(process.stderr);
  (process.stderr as any).write = (s: string) => {
    writes.push(String(s));
    return true;
  };
  try {
    const code = reportError(new KilnError('DOCKERFILE_SYNTAX', 'bad', { loc: { file: 'Dockerfile', line: 3 }, hint: 'fix it' }), false);
    assert.is(code, 2);
  } finally {
    (process.stderr as any).write = orig;
  }
  const out = writes.join('');
  assert.is(out, 'error: Dockerfile:3: bad\nhint: fix it\n');
  assert.not.match(out, /at /);
});

test.run();
