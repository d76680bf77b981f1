/**
 * BuildKit's own word-expansion tables (../shared/conformance/data/shell), read at test time: every row must
 * give BuildKit's answer. Rows tagged W (Windows-only) are skipped: kiln builds Linux images.
 */
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { processWord, processWords, processWordWithMatches } from '../../../src/parser/shell-lexer.js';
import { isKilnError } from '../../../src/errors.js';
import { CONFORMANCE_DATA } from '../../helpers/shared-data.js';

const DATA = `${CONFORMANCE_DATA}/shell/`;
const read = (name: string) => readFileSync(DATA + name, 'utf8');

function attempt(fn: () => string | string[]): { ok: true; value: string | string[] } | { ok: false; err: unknown } {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    return { ok: false, err };
  }
}

test('envVarTest: every A and U row expands as BuildKit does', () => {
  const env = new Map([
    ['PWD', '/home'],
    ['SHELL', 'bash'],
    ['KOREAN', '한국어'],
    ['NULL', ''],
  ]);
  let rows = 0;
  for (const [n, raw] of read('envVarTest').split('\n').entries()) {
    if (raw.startsWith('#') || raw.trim() === '') continue;
    const parts = raw.trim().split('|');
    assert.is(parts.length, 3, `line ${n + 1} has 3 columns`);
    const [platform, input, expected] = parts.map((p) => p.trim()) as [string, string, string];
    if (platform === 'W') continue;
    rows++;
    const r = attempt(() => processWord(input, env));
    if (expected === 'error') {
      assert.not.ok(r.ok, `line ${n + 1}: ${input} must fail, got ${r.ok ? JSON.stringify(r.value) : ''}`);
      assert.ok(!r.ok && isKilnError(r.err) && r.err.code === 'EXPANSION_FAILED', `line ${n + 1}: a KilnError`);
    } else {
      assert.ok(r.ok, `line ${n + 1}: ${input} failed: ${!r.ok ? (r.err as Error).message : ''}`);
      assert.is(r.ok && r.value, expected, `line ${n + 1}: ${input}`);
    }
  }
  assert.ok(rows > 150, `read the table (${rows} rows)`);
});

test('wordsTest: expansion then field splitting matches BuildKit (ENV rows accumulate)', () => {
  const env = new Map<string, string>();
  let rows = 0;
  for (const [n, line] of read('wordsTest').split('\n').entries()) {
    if (line.startsWith('#') || line === '') continue;
    if (line.startsWith('ENV ')) {
      const kv = line.slice(3).replace(/^ +/, '');
      const eq = kv.indexOf('=');
      env.set(kv.slice(0, eq), kv.slice(eq + 1));
      continue;
    }
    const parts = line.split('|');
    assert.is(parts.length, 2, `line ${n + 1} has one |`);
    const input = parts[0]!.trim();
    const expected = parts[1]!.replace(/^ +/, '').split(',');
    rows++;
    const r = attempt(() => processWords(input, env));
    const got = r.ok ? (r.value as string[]) : ['error'];
    assert.equal(got, expected, `line ${n + 1}: ${input}`);
  }
  assert.ok(rows > 20);
});

test('modifiersTest: #, %, /, ?, :- and :+ modifiers match BuildKit', () => {
  let rows = 0;
  for (const [n, line] of read('modifiersTest').split('\n').entries()) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const [platform, input, expected, envJson] = line.split('\t') as [string, string, string, string];
    if (platform === 'W') continue;
    rows++;
    const env = JSON.parse(envJson) as Record<string, string>;
    const r = attempt(() => processWord(input, env));
    if (expected === 'error') assert.not.ok(r.ok, `line ${n + 1}: ${input} must fail, got ${r.ok ? JSON.stringify(r.value) : ''}`);
    else {
      assert.ok(r.ok, `line ${n + 1}: ${input} failed: ${!r.ok ? (r.err as Error).message : ''}`);
      assert.is(r.ok && r.value, expected, `line ${n + 1}: ${input}`);
    }
  }
  assert.ok(rows > 50);
});

test('processWordWithMatches() reports matched and unmatched names', () => {
  const r = processWordWithMatches('${A}-${B:-x}-$C', { A: '1', C: '' });
  assert.is(r.result, '1-x-');
  assert.equal([...r.matched].sort(), ['A', 'C']);
  assert.equal([...r.unmatched], ['B']);
});

test('the backtick escape character escapes like backslash and leaves backslashes alone', () => {
  assert.is(processWord('C:\\path\\`$X', { X: 'x' }, { escape: '`' }), 'C:\\path\\$X');
  assert.is(processWord('"a`"b"', {}, { escape: '`' }), 'a"b');
});

test('positional and special parameters expand to the empty string', () => {
  assert.is(processWord('a$1b$@c${#}d$*e', {}), 'abcde');
  assert.is(processWord('x$$y', {}), 'xy');
});

test('${a?msg} failures name the variable and the message', () => {
  try {
    processWord('${REQ:?set REQ please}', {});
    assert.unreachable();
  } catch (err) {
    assert.ok(isKilnError(err));
    assert.match((err as Error).message, /REQ: set REQ please/);
  }
});

test.run();
