import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { createPatternMatcher } from '../../../src/builder/fileops/patterns.js';
import { isKilnError } from '../../../src/errors.js';
import { CONFORMANCE_DATA } from '../../helpers/shared-data.js';

const DATA = `${CONFORMANCE_DATA}/dockerignore`;

function rows(file: string): string[][] {
  return readFileSync(`${DATA}/${file}`, 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split('\t'));
}

function outcome(patterns: string[], path: string): string {
  try {
    return String(createPatternMatcher(patterns).matches(path));
  } catch (err) {
    if (isKilnError(err)) return 'error';
    throw err;
  }
}

test('createPatternMatcher() agrees with moby/patternmatcher on its single-pattern table', () => {
  const bad: string[] = [];
  for (const [pattern, path, want] of rows('patternmatcher.tsv')) {
    const got = outcome([pattern], path);
    if (got !== want) bad.push(`${pattern} ${path}: want ${want}, got ${got}`);
  }
  assert.equal(bad, []);
});

test('createPatternMatcher() agrees with moby/patternmatcher on multi-pattern files (exceptions, order)', () => {
  const bad: string[] = [];
  for (const [json, path, want] of rows('patternmatcher_multi.tsv')) {
    const got = outcome(JSON.parse(json), path);
    if (got !== want) bad.push(`${json} ${path}: want ${want}, got ${got}`);
  }
  assert.equal(bad, []);
});

test('hasExclusions tells whether a matched directory may hold unmatched paths', () => {
  assert.is(createPatternMatcher(['a', '!a/keep']).hasExclusions, true);
  assert.is(createPatternMatcher(['a']).hasExclusions, false);
});

test.run();
