import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { goMatch, hasWildcards, splitWildcards } from '../../../src/builder/fileops/glob.js';
import { throwsCode } from '../../helpers/assert.js';

// Go's path/filepath match_test.go table (pattern, name, match): the semantics BuildKit's COPY wildcards use.
const GO_TABLE: Array<[string, string, boolean]> = [
  ['abc', 'abc', true],
  ['*', 'abc', true],
  ['*c', 'abc', true],
  ['a*', 'a', true],
  ['a*', 'abc', true],
  ['a*', 'ab/c', false],
  ['a*/b', 'abc/b', true],
  ['a*/b', 'a/c/b', false],
  ['a*b*c*d*e*/f', 'axbxcxdxe/f', true],
  ['a*b*c*d*e*/f', 'axbxcxdxexxx/f', true],
  ['a*b*c*d*e*/f', 'axbxcxdxe/xxx/f', false],
  ['a*b*c*d*e*/f', 'axbxcxdxexxx/fff', false],
  ['a*b?c*x', 'abxbbxdbxebxczzx', true],
  ['a*b?c*x', 'abxbbxdbxebxczzy', false],
  ['ab[c]', 'abc', true],
  ['ab[b-d]', 'abc', true],
  ['ab[e-g]', 'abc', false],
  ['ab[^c]', 'abc', false],
  ['ab[^b-d]', 'abc', false],
  ['ab[^e-g]', 'abc', true],
  ['a\\*b', 'a*b', true],
  ['a\\*b', 'ab', false],
  ['a?b', 'a☺b', true],
  ['a[^a]b', 'a☺b', true],
  ['a???b', 'a☺b', false],
  ['a[^a][^a][^a]b', 'a☺b', false],
  ['[a-ζ]*', 'α', true],
  ['*[a-ζ]', 'A', false],
  ['a?b', 'a/b', false],
  ['a*b', 'a/b', false],
  ['[\\]a]', ']', true],
  ['[\\-]', '-', true],
  ['[x\\-]', 'x', true],
  ['[x\\-]', '-', true],
  ['[x\\-]', 'z', false],
  ['[\\-x]', 'x', true],
  ['[\\-x]', '-', true],
  ['[\\-x]', 'a', false],
  ['*x', 'xxx', true],
];

test('goMatch() follows Go filepath.Match on its own test table', () => {
  for (const [p, s, want] of GO_TABLE) assert.is(goMatch(p, s), want, `${p} vs ${s}`);
});

test('goMatch() rejects malformed patterns as Go does (ErrBadPattern)', () => {
  for (const p of ['[]a]', '[-]', '[x-]', '[a-b-c]', '[', '[^', '[^bc', 'a[', 'a\\', '[\\']) {
    throwsCode(() => goMatch(p, 'a'), 'INVALID_ARGUMENT');
  }
});

test('"[[]" matches a literal bracket and escaped metacharacters match themselves', () => {
  assert.ok(goMatch('app/[[]xyz]/file.txt', 'app/[xyz]/file.txt'));
  assert.ok(goMatch('app/n\\?pe/file.txt', 'app/n?pe/file.txt'));
  assert.not.ok(goMatch('app/n\\?pe/file.txt', 'app/nope/file.txt'));
  assert.ok(goMatch('*', '.hidden'), 'a star matches dot files, unlike a shell');
});

test('hasWildcards() ignores escaped metacharacters; splitWildcards() cuts at the first wild component', () => {
  assert.ok(hasWildcards('a/*.txt'));
  assert.not.ok(hasWildcards('a/n\\?pe'));
  assert.equal(splitWildcards('a/b/*.txt/c'), ['a/b', '*.txt/c']);
  assert.equal(splitWildcards('*.txt'), ['.', '*.txt']);
});

test.run();
