/**
 * Every Dockerfile of ../shared/conformance/cases parses and outlines with its case's build args. Cases whose
 * case.json says the build must fail are allowed to fail here only if their failure is in the Dockerfile
 * itself (the others fail later, on the context) — the expected parse failures are listed by name.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isKilnError } from '../../../src/errors.js';
import { outlineDockerfile, parseDockerfile } from '../../../src/parser/index.js';
import { CONFORMANCE_CASES } from '../../helpers/shared-data.js';

const CASES = `${CONFORMANCE_CASES}/`;

/** Cases whose Dockerfile itself is invalid, with the error kiln must give. */
const FAILS_IN_DOCKERFILE: Record<string, RegExp> = {
  // ENV name='a\'b': a backslash does not escape inside single quotes (BuildKit: shouldFailAt line 2).
  'bc-env-bad-quote': /^Dockerfile:2: failed to process .*matching single-quote/,
};

const names = readdirSync(CASES)
  .filter((n) => existsSync(`${CASES}${n}/case.json`))
  .sort();

test('all conformance cases are present', () => {
  assert.ok(names.length >= 87, `${names.length} cases`);
});

for (const name of names) {
  test(`conformance ${name} parses as its case expects`, () => {
    const meta = JSON.parse(readFileSync(`${CASES}${name}/case.json`, 'utf8')) as { build_args?: Record<string, string>; expect_fail?: boolean };
    const text = readFileSync(`${CASES}${name}/context/Dockerfile`, 'utf8');
    const expectedError = FAILS_IN_DOCKERFILE[name];
    if (expectedError) assert.ok(meta.expect_fail, 'only a must-fail case may fail to parse');
    try {
      const outline = outlineDockerfile(parseDockerfile(text, { buildArgs: meta.build_args ?? {} }));
      assert.ok(outline.stages.length > 0);
      assert.not.ok(expectedError, `${name} must fail in the Dockerfile`);
    } catch (err) {
      if (!isKilnError(err) || !expectedError) throw err;
      assert.match(err.describe(), expectedError);
    }
  });
}

test.run();
