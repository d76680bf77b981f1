import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { shapeDiff } from '../../helpers/json-shape.js';

test('shapeDiff() finds missing and extra keys, type changes, nested and in array elements', () => {
  const ref = { A: 1, B: { C: 'x', D: [{ E: true }] }, F: null, G: [] };
  assert.equal(shapeDiff(ref, { A: 2, B: { C: 'y', D: [{ E: false }] }, F: ['z'], G: [1] }), []);
  assert.equal(shapeDiff(ref, { A: '2', B: { D: [{ E: 1, X: 0 }] }, F: 'z', G: [], Y: 1 }).sort(), [
    'A: string where dockerd has number',
    'B.C: missing (dockerd has string)',
    'B.D[].E: number where dockerd has boolean',
    "B.D[].X: not in dockerd's answer",
    'F: string where dockerd has null (a nil slice, map or pointer)',
    "Y: not in dockerd's answer",
  ]);
  assert.equal(shapeDiff({ A: [] }, { A: null }), ['A: null where dockerd has array']);
});

test('shapeDiff() compares map entries with the first reference entry, and honours the allow-list', () => {
  const ref = { Networks: { none: { IP: '' } }, SizeRootFs: 1 };
  assert.equal(shapeDiff(ref, { Networks: { bridge: { IP: '10.0.0.2' } }, SizeRootFs: 1 }, { maps: ['Networks'] }), []);
  assert.equal(shapeDiff({ A: [{ Networks: { x: { B: 1 } } }] }, { A: [{ Networks: { y: { B: 2 } } }] }, { maps: ['Networks'] }), []);
  assert.equal(shapeDiff(ref, { Networks: { bridge: { IP: 1 } }, SizeRootFs: 1 }, { maps: ['Networks'] }), [
    'Networks.bridge.IP: number where dockerd has string',
  ]);
  assert.equal(
    shapeDiff(
      ref,
      { Networks: { none: { IP: '' } }, SizeRw: 3 },
      {
        allow: [
          { path: 'SizeRw', why: 'omitempty' },
          { path: 'SizeRootFs', why: 'x' },
        ],
      },
    ),
    [],
  );
});

test.run();
