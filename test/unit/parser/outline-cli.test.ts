/** `kiln outline` as a user runs it: text and JSON output, stdin, errors with file:line and exit status. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { kiln } from '../../helpers/kiln-cli.js';

const DF = `ARG BASE=busybox
FROM \${BASE} AS build
ARG VERSION=1
ENV V=\${VERSION}
RUN echo $V
FROM scratch
COPY --from=build /x /x
`;

let dir = '';
test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-outline-'));
  writeFileSync(join(dir, 'Dockerfile'), DF);
  writeFileSync(join(dir, 'Bad.Dockerfile'), 'FROM busybox\nRUN ok\nCOPPY a b\n');
});
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('kiln outline --format json prints stages, build args and expanded instructions', async () => {
  const r = await kiln(['outline', '--format', 'json', '--build-arg', 'VERSION=2', dir]);
  assert.is(r.code, 0, r.stderr);
  const o = JSON.parse(r.stdout);
  assert.is(o.target, '1');
  assert.equal(
    o.buildArgs.map((a: { name: string; value?: string }) => [a.name, a.value]),
    [
      ['BASE', 'busybox'],
      ['VERSION', '2'],
    ],
  );
  assert.equal(
    o.stages[0].instructions.map((i: { text: string }) => i.text),
    ['ARG VERSION=2', 'ENV V=2', 'RUN echo $V'],
  );
  assert.is(o.stages[1].instructions[0].text, 'COPY --from=build /x /x');
});

test('kiln outline prints a readable text outline and --target skips unneeded stages', async () => {
  const r = await kiln(['outline', '--target', 'build', dir]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^TARGET: build$/m);
  assert.match(r.stdout, /STAGE 0 build: FROM busybox/);
  assert.match(r.stdout, /STAGE 1: FROM scratch\s+# not needed for the target, skipped/);
  assert.match(r.stdout, /4\s+ENV V=1/);
});

test('kiln outline -f - reads the Dockerfile from stdin', async () => {
  const r = await kiln(['outline', '-f', '-', '--format', 'json'], { input: 'FROM busybox\nWORKDIR /a/$X\n' });
  assert.is(r.code, 0, r.stderr);
  assert.is(JSON.parse(r.stdout).stages[0].instructions[0].text, 'WORKDIR /a/');
});

test('kiln outline reports a bad Dockerfile as file:line with a suggestion and exit status 2', async () => {
  const r = await kiln(['outline', '-f', join(dir, 'Bad.Dockerfile'), dir]);
  assert.is(r.code, 2);
  assert.is(r.stdout, '');
  assert.match(r.stderr, /^error: \S*Bad\.Dockerfile:3: unknown instruction "COPPY" \(did you mean COPY\?\)$/m);
  assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
});

test('kiln outline on a context without a Dockerfile says so and exits 3', async () => {
  const r = await kiln(['outline', join(dir, 'nope')]);
  assert.is(r.code, 3);
  assert.match(r.stderr, /cannot read Dockerfile .*nope\/Dockerfile/);
});

test.run();
