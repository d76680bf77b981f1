import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { canonicalJson } from '../../../src/image/canonical-json.js';
import { digestOfJson, shortId } from '../../../src/image/digest.js';

test('canonicalJson() sorts keys at every level and drops whitespace and undefined', () => {
  const s = canonicalJson({ b: 1, a: { d: [3, { z: 1, y: undefined, x: 'é"' }], c: null } });
  assert.is(s, '{"a":{"c":null,"d":[3,{"x":"é\\"","z":1}]},"b":1}');
});

test('equal content in a different key order has one digest', () => {
  assert.is(digestOfJson({ a: 1, b: [1, 2] }), digestOfJson({ b: [1, 2], a: 1 }));
  assert.is.not(digestOfJson({ a: 1 }), digestOfJson({ a: 2 }));
});

test('canonicalJson() refuses values JSON cannot hold', () => {
  assert.throws(() => canonicalJson({ a: NaN }));
  const cyc: Record<string, unknown> = {};
  cyc.self = cyc;
  assert.throws(() => canonicalJson(cyc), /cyclic/);
});

test('shortId() is the first 12 hex digits', () => {
  assert.is(shortId(`sha256:${'0123456789ab'.repeat(5)}abcd`), '0123456789ab');
});

test.run();
