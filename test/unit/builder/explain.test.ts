import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { explainMiss } from '../../../src/builder/explain.js';

const copy = {
  op: { kind: 'COPY', text: 'COPY . /app' },
  parent: 'sha256:p',
  parentDesc: 'FROM busybox@sha256:1',
  inputs: { sources: 'sha256:s1' },
  files: { 'a.txt': 'sha256:a', 'b.txt': 'sha256:b' },
};

test('explainMiss() names the file whose content changed', () => {
  const now = { ...copy, inputs: { sources: 'sha256:s2' }, files: { ...copy.files, 'b.txt': 'sha256:b2' } };
  assert.is(explainMiss(now, copy), 'file changed: b.txt');
});

test('explainMiss() names added and removed files', () => {
  const now = { ...copy, inputs: { sources: 'sha256:s2' }, files: { 'a.txt': 'sha256:a', 'c.txt': 'sha256:c' } };
  assert.is(explainMiss(now, copy), 'file added: c.txt; file removed: b.txt');
});

test('explainMiss() names the variable whose value changed', () => {
  const run = { op: { kind: 'RUN', text: 'RUN make', env: ['PATH=/bin', 'MODE=debug'] }, parent: 'sha256:p' };
  const now = { ...run, op: { ...run.op, env: ['PATH=/bin', 'MODE=release'] } };
  assert.is(explainMiss(now, run), 'variable MODE changed: "debug" → "release"');
});

test('explainMiss() reports a changed instruction text and a changed base image', () => {
  const now = { ...copy, op: { kind: 'COPY', text: 'COPY . /srv' }, parent: 'sha256:q', parentDesc: 'FROM busybox@sha256:2' };
  const why = explainMiss(now, copy);
  assert.match(why, /instruction changed: "COPY \. \/app" → "COPY \. \/srv"/);
  assert.match(why, /base image changed: FROM busybox@sha256:1 → FROM busybox@sha256:2/);
});

test('explainMiss() blames the previous step when only the parent differs', () => {
  const run = { op: { kind: 'RUN', text: 'RUN make' }, parent: 'sha256:p', parentDesc: 'step 2: COPY . /app' };
  assert.is(explainMiss({ ...run, parent: 'sha256:q' }, run), 'previous step changed (step 2: COPY . /app)');
});

test('explainMiss() says when there is nothing to compare with', () => {
  assert.is(explainMiss(copy, undefined), 'no earlier build of this step');
});

test.run();
