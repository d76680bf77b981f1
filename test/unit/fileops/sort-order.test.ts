import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { byteOrder, sortByBytes } from '../../../src/builder/fileops/scan.js';

const byBytes = (names: string[]) => [...names].sort(byteOrder);

test('sortByBytes() orders plain names as their UTF-8 bytes do', () => {
  const names = ['b', 'B', 'a.txt', 'a', 'é', 'Z', '_', 'a-b', '10', '9'];
  assert.equal(sortByBytes([...names]), byBytes(names));
});

test('sortByBytes() orders astral and high-BMP names by UTF-8 bytes, not UTF-16 code units', () => {
  const names = ['\uFF21', '\u{1F600}', 'a', '\uE000'];
  const sorted = sortByBytes([...names]);
  assert.equal(sorted, byBytes(names));
  assert.equal(sorted, ['a', '\uE000', '\uFF21', '\u{1F600}'], 'U+1F600 sorts after U+FF21 in UTF-8');
});

test.run();
