import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { familiarString, formatReference, normalizeReference, parseReference } from '../../../src/image/reference.js';
import { throwsCode } from '../../helpers/assert.js';

const H = 'a'.repeat(64);
const ok: Array<[string, string, string]> = [
  // input, full normalised, familiar
  ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
  ['busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
  ['library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
  ['docker.io/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
  ['index.docker.io/library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
  ['team/app', 'docker.io/team/app:latest', 'team/app:latest'],
  ['127.0.0.1:5000/team/app:1.2', '127.0.0.1:5000/team/app:1.2', '127.0.0.1:5000/team/app:1.2'],
  ['localhost/app', 'localhost/app:latest', 'localhost/app:latest'],
  ['localhost:5000/app', 'localhost:5000/app:latest', 'localhost:5000/app:latest'],
  ['quay.io/a/b/c:v1.0-rc_1', 'quay.io/a/b/c:v1.0-rc_1', 'quay.io/a/b/c:v1.0-rc_1'],
  [`app@sha256:${H}`, `docker.io/library/app@sha256:${H}`, `app@sha256:${H}`],
  [`app:1@sha256:${H}`, `docker.io/library/app:1@sha256:${H}`, `app:1@sha256:${H}`],
  ['my-app__x.y', 'docker.io/library/my-app__x.y:latest', 'my-app__x.y:latest'],
  ['[::1]:5000/app', '[::1]:5000/app:latest', '[::1]:5000/app:latest'],
];

for (const [input, full, fam] of ok) {
  test(`parseReference() normalises ${input}`, () => {
    const r = parseReference(input);
    assert.is(formatReference(r), full);
    assert.is(familiarString(r), fam);
    assert.is(normalizeReference(full), full, 'normalising is idempotent');
  });
}

const bad: Array<[string, RegExp]> = [
  ['', /empty/],
  ['Busybox', /lowercase/],
  ['busybox:', /invalid tag/],
  ['busybox:-x', /invalid tag/],
  ['app@sha256:abc', /64/],
  ['app@md5', /malformed digest/],
  [H, /image ID/],
  ['a//b', /invalid repository/],
  ['-app', /invalid repository/],
  ['app:' + 'x'.repeat(129), /invalid tag/],
];

for (const [input, msg] of bad) {
  test(`parseReference() rejects ${JSON.stringify(input).slice(0, 40)} with INVALID_REFERENCE`, () => {
    throwsCode(() => parseReference(input), 'INVALID_REFERENCE', msg);
  });
}

test('parseReference() can leave the tag out', () => {
  assert.is(parseReference('busybox', { defaultTag: false }).tag, undefined);
});

test('a registry part is only one with a dot, a colon or localhost', () => {
  assert.is(parseReference('foo/bar').domain, 'docker.io');
  assert.is(parseReference('foo.com/bar').domain, 'foo.com');
  assert.is(parseReference('foo:1/bar').domain, 'foo:1');
});

test.run();
