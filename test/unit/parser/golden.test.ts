/**
 * Golden cases: test/fixtures/dockerfiles/<case>/{Dockerfile, args.json?, expected.json}. A valid case's
 * expected.json is its outline (stages, build args, instructions after expansion); an invalid case's is
 * `{code, error}` with the exact `file:line: message`. KILN_UPDATE_GOLDEN=1 rewrites the valid ones (review
 * the diff before committing: the files are the specification).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isKilnError } from '../../../src/errors.js';
import { outlineDockerfile, parseDockerfile, parsePlatform, type ParseOptions } from '../../../src/parser/index.js';

const ROOT = fileURLToPath(new URL('../../fixtures/dockerfiles/', import.meta.url));

interface Args {
  buildArgs?: Record<string, string>;
  target?: string;
  platform?: string;
  buildPlatform?: string;
}

function optionsFor(dir: string): ParseOptions {
  const file = join(dir, 'args.json');
  const a: Args = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  return {
    file: 'Dockerfile',
    buildArgs: a.buildArgs,
    target: a.target,
    // Fixed platforms so outlines do not depend on the machine running the tests.
    platform: parsePlatform(a.platform ?? 'linux/amd64'),
    buildPlatform: parsePlatform(a.buildPlatform ?? 'linux/amd64'),
  };
}

const cases = readdirSync(ROOT)
  .filter((d) => existsSync(join(ROOT, d, 'Dockerfile')))
  .sort();

test('there are golden cases, valid and invalid', () => {
  assert.ok(cases.filter((c) => c.startsWith('invalid-')).length >= 20);
  assert.ok(cases.filter((c) => !c.startsWith('invalid-')).length >= 10);
});

for (const name of cases) {
  const dir = join(ROOT, name);
  const expectedFile = join(dir, 'expected.json');
  test(`golden ${name}`, () => {
    const text = readFileSync(join(dir, 'Dockerfile'), 'utf8');
    const opts = optionsFor(dir);
    const expected = existsSync(expectedFile) ? JSON.parse(readFileSync(expectedFile, 'utf8')) : undefined;
    if (expected && 'error' in expected) {
      try {
        outlineDockerfile(parseDockerfile(text, opts));
      } catch (err) {
        if (!isKilnError(err)) throw err;
        assert.is(err.describe(), expected.error);
        assert.is(err.code, expected.code);
        return;
      }
      assert.unreachable(`expected ${expected.error}`);
    }
    const outline = outlineDockerfile(parseDockerfile(text, opts));
    if (!expected || process.env.KILN_UPDATE_GOLDEN) {
      writeFileSync(expectedFile, JSON.stringify(outline, null, 2) + '\n');
      if (!expected) assert.unreachable(`${name}: wrote a new expected.json; review it`);
      return;
    }
    assert.equal(outline, expected);
  });
}

test.run();
