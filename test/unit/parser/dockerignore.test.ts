/**
 * moby/patternmatcher's table (../shared/conformance/data/dockerignore/*.tsv, read at test time) plus the
 * `.dockerignore` file rules and the directory-skip shortcut a context walker relies on.
 */
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createIgnoreMatcher, loadIgnorePatterns, parseDockerignore } from '../../../src/parser/dockerignore.js';
import { isKilnError } from '../../../src/errors.js';
import { CONFORMANCE_DATA } from '../../helpers/shared-data.js';

const DATA = `${CONFORMANCE_DATA}/dockerignore/`;

function rows(file: string): Array<{ line: number; patterns: string[]; path: string; expected: string }> {
  const out = [];
  for (const [n, line] of readFileSync(DATA + file, 'utf8').split('\n').entries()) {
    if (line.startsWith('#') || line === '') continue;
    const [pat, path, expected] = line.split('\t') as [string, string, string];
    out.push({ line: n + 1, patterns: file.includes('multi') ? (JSON.parse(pat) as string[]) : [pat], path, expected });
  }
  return out;
}

for (const file of ['patternmatcher.tsv', 'patternmatcher_multi.tsv']) {
  test(`${file}: every row matches, does not match, or is rejected as patternmatcher does`, () => {
    const all = rows(file);
    assert.ok(all.length > 5);
    for (const r of all) {
      const label = `line ${r.line}: ${JSON.stringify(r.patterns)} vs ${r.path}`;
      if (r.expected === 'error') {
        try {
          createIgnoreMatcher(r.patterns);
          assert.unreachable(`${label} must be rejected`);
        } catch (err) {
          assert.ok(isKilnError(err) && err.code === 'DOCKERIGNORE_INVALID', label);
        }
        continue;
      }
      assert.is(createIgnoreMatcher(r.patterns).matches(r.path), r.expected === 'true', label);
    }
  });
}

test('parseDockerignore() drops comments and blanks, trims, cleans and strips a leading slash', () => {
  const text = '\ufeff# comment\n\n  /build/  \n!./keep/../keep/x\n./a//b/\n #not a comment\n';
  assert.equal(parseDockerignore(text), ['build', '!keep/x', 'a/b', '#not a comment']);
});

test('the last matching pattern wins, and exceptions re-include below an excluded directory', () => {
  const m = createIgnoreMatcher(parseDockerignore('node_modules\n*.log\n!important.log\ndocs\n!docs/README.md\n'));
  assert.ok(m.matches('node_modules/x/y.js'));
  assert.ok(m.matches('debug.log'));
  assert.not.ok(m.matches('important.log'));
  assert.ok(m.matches('docs/other.md'));
  assert.not.ok(m.matches('docs/README.md'));
  assert.not.ok(m.matches('src/main.ts'));
});

test('canSkipDir() skips an excluded directory only when no exception could reach inside it', () => {
  const m = createIgnoreMatcher(parseDockerignore('node_modules\ndocs\n!docs/README.md\n'));
  assert.ok(m.canSkipDir('node_modules'));
  assert.ok(m.canSkipDir('node_modules/a'));
  assert.not.ok(m.canSkipDir('docs'), 'docs/README.md must still be found');
  assert.not.ok(m.canSkipDir('src'), 'src is not excluded');
  const wild = createIgnoreMatcher(['vendor', '!**/*.go']);
  assert.not.ok(wild.canSkipDir('vendor'), 'a ** exception can match anywhere');
  assert.ok(createIgnoreMatcher(['**', '!src']).canSkipDir('test'));
  assert.not.ok(createIgnoreMatcher(['**', '!src']).canSkipDir('src'));
});

test('a lone ! is an invalid pattern', () => {
  try {
    createIgnoreMatcher(['!']);
    assert.unreachable();
  } catch (err) {
    assert.ok(isKilnError(err) && err.code === 'DOCKERIGNORE_INVALID');
  }
});

test('loadIgnorePatterns() prefers <Dockerfile>.dockerignore beside the Dockerfile', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-ignore-'));
  try {
    mkdirSync(join(dir, 'ctx'));
    mkdirSync(join(dir, 'df'));
    writeFileSync(join(dir, 'ctx/.dockerignore'), 'general\n');
    assert.equal((await loadIgnorePatterns(join(dir, 'ctx'))).patterns, ['general']);
    assert.equal((await loadIgnorePatterns(join(dir, 'ctx'), join(dir, 'df/app.Dockerfile'))).patterns, ['general']);
    writeFileSync(join(dir, 'df/app.Dockerfile.dockerignore'), 'specific\n');
    const r = await loadIgnorePatterns(join(dir, 'ctx'), join(dir, 'df/app.Dockerfile'));
    assert.equal(r.patterns, ['specific']);
    assert.is(r.source, join(dir, 'df/app.Dockerfile.dockerignore'));
    assert.equal((await loadIgnorePatterns(join(dir, 'df'))).patterns, [], 'no file, no patterns');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
