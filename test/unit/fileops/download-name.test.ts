import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { dispositionFileName, parseDispositionParams, safeFileName, urlFileName, UNNAMED } from '../../../src/builder/fileops/download-name.js';

test('urlFileName() percent-decodes the path before taking its last component', () => {
  assert.is(urlFileName('http://127.0.0.1/x/..%2F..%2F..%2F..%2Ftmp%2Fpwned'), 'pwned');
  assert.is(urlFileName('http://127.0.0.1/x/%2e%2e%2f%2e%2e%2fetc%2fpasswd'), 'passwd');
  assert.is(urlFileName('https://example.com/a/b.tgz?x=1'), 'b.tgz');
  assert.is(urlFileName('https://example.com/a/my%20file.txt'), 'my file.txt');
  assert.is(urlFileName('https://example.com/dir/'), 'dir');
  assert.is(urlFileName('http://h/x/%2F%2F'), 'x', "trailing separators are dropped, as Go's path.Base does");
});

test('urlFileName() never yields a path, . or ..', () => {
  for (const u of [
    'https://example.com/',
    'https://example.com',
    'http://h/x/..',
    'http://h/x/%2e%2e',
    'http://h/x/..%2F',
    'http://h/x/a%00b',
    'http://h/x/%zz',
    'http://h/x/.%2F.',
    'http://h/x/a%0Ab',
    'not a url',
  ]) {
    const n = urlFileName(u);
    assert.is(n, UNNAMED, u);
  }
});

test('safeFileName() keeps one trimmed base name; backslashes are literal on Linux, as in BuildKit', () => {
  assert.is(safeFileName('  foo.txt '), 'foo.txt');
  assert.is(safeFileName('a/b/c.txt'), 'c.txt');
  assert.is(safeFileName('../../../etc/passwd'), 'passwd');
  assert.is(safeFileName('..\\..\\x'), '..\\..\\x');
  for (const bad of ['', ' ', '.', '..', '../', '/', 'a\u0000b', 'a\nb', '\u009b']) assert.is(safeFileName(bad), UNNAMED, JSON.stringify(bad));
});

test('dispositionFileName() takes filename (quoted, token or RFC 2231) and reduces it to a base name', () => {
  assert.is(dispositionFileName('attachment; filename="report.pdf"'), 'report.pdf');
  assert.is(dispositionFileName('attachment; filename=report.pdf'), 'report.pdf');
  assert.is(dispositionFileName('attachment; FILENAME="a b.txt";'), 'a b.txt');
  assert.is(dispositionFileName('attachment; filename="../../../../tmp/pwned"'), 'pwned');
  assert.is(dispositionFileName('attachment; filename="/etc/cron.d/x"'), 'x');
  assert.is(dispositionFileName("attachment; filename*=UTF-8''..%2F..%2Ftmp%2F%E2%82%ACx"), '€x');
  assert.is(dispositionFileName("attachment; filename=plain; filename*=utf-8''fancy"), 'fancy', 'the extended form wins, as in Go');
  assert.is(dispositionFileName('attachment; filename*0="ab"; filename*1*=%2Fcd'), 'cd', 'continuations are joined before the base name');
  assert.is(dispositionFileName('attachment; filename=".."'), UNNAMED);
  assert.is(dispositionFileName('attachment; filename="a\\"b"'), 'a"b');
});

test('dispositionFileName() leaves the choice to the URL when the header is malformed, has no name or names a directory', () => {
  for (const h of [
    undefined,
    '',
    'attachment',
    'attachment; filename=',
    'attachment; filename="unterminated',
    'attachment; filename=a; filename=b',
    'attachment; filename="dir/"',
    'attach ment; filename=x',
    "attachment; filename*=latin1''x",
  ]) {
    assert.is(dispositionFileName(h), undefined, String(h));
  }
  assert.ok(parseDispositionParams('inline'));
});

test.run();
