import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { outlineDockerfile, parseDockerfile, processWord } from '../../../src/parser/index.js';
import { MAX_NESTING } from '../../../src/parser/shell-lexer.js';
import { throwsCode } from '../../helpers/assert.js';

const nested = (n: number) => `${'${Y:-'.repeat(n)}x${'}'.repeat(n)}`;

test(`processWord() expands ${MAX_NESTING} nested substitutions`, () => {
  assert.is(processWord(nested(MAX_NESTING), {}), 'x');
});

test('processWord() refuses deeper nesting with EXPANSION_FAILED, not a stack overflow', () => {
  throwsCode(() => processWord(nested(MAX_NESTING + 1), {}), 'EXPANSION_FAILED', /nested more than 100 deep/);
  throwsCode(() => processWord(nested(50_000), {}), 'EXPANSION_FAILED', /nested more than/);
});

test('a Dockerfile nesting 5,000 deep fails with its file and line (outline and parse), message bounded', () => {
  const text = `FROM scratch\nARG Y=1\nENV X=${nested(5000)}\n`;
  const err = throwsCode(
    () => outlineDockerfile(parseDockerfile(text, { file: 'Dockerfile' })),
    'EXPANSION_FAILED',
    /^Dockerfile:3: .*nested more than 100 deep/,
  );
  assert.ok(err.message.length < 400, `message is ${err.message.length} chars`);
  const wd = `FROM scratch\nARG Y=1\nWORKDIR /${nested(5000)}\n`;
  throwsCode(() => outlineDockerfile(parseDockerfile(wd, { file: 'Dockerfile' })), 'EXPANSION_FAILED', /^Dockerfile:3: /);
});

test.run();
