import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createRouter, stripVersion } from '../../../src/server/router.js';
import { routes } from '../../../src/server/routes/index.js';
import { pushImage, inspectImage, removeImage, tagImage } from '../../../src/server/routes/images.js';
import { ping } from '../../../src/server/routes/system.js';
import { isImageName } from '../../../src/server/image-name.js';

const router = createRouter(routes);

test('stripVersion() takes the /vX.Y prefix off and keeps bare paths', () => {
  assert.equal(stripVersion('/v1.45/images/json'), { version: '1.45', path: '/images/json' });
  assert.equal(stripVersion('/_ping'), { path: '/_ping' });
  assert.equal(stripVersion('/v1/images'), { path: '/v1/images' });
});

test('routes match with and without a version prefix, HEAD falls back to GET', () => {
  assert.is(router.match('GET', '/_ping').handler, ping);
  assert.is(router.match('HEAD', '/v1.45/_ping').handler, ping);
});

test('image names with registry ports and slashes route to the suffix handler', () => {
  const m = router.match('POST', '/v1.45/images/127.0.0.1:5000/team/app/push');
  assert.is(m.handler, pushImage);
  assert.equal((m as { params: Record<string, string> }).params, { name: '127.0.0.1:5000/team/app' });
  const i = router.match('GET', '/images/127.0.0.1:5000/app:1.0/json');
  assert.is(i.handler, inspectImage);
  assert.is((i as { params: Record<string, string> }).params.name, '127.0.0.1:5000/app:1.0');
  assert.is(router.match('POST', '/images/app:1/tag').handler, tagImage);
  const d = router.match('DELETE', '/v1.45/images/127.0.0.1:5000/app:latest');
  assert.is(d.handler, removeImage);
  assert.is((d as { params: Record<string, string> }).params.name, '127.0.0.1:5000/app:latest');
});

test('an unknown path has no handler; a known path with another method lists the allowed ones', () => {
  assert.is(router.match('GET', '/nope').handler, undefined);
  const m = router.match('PUT', '/images/json');
  assert.is(m.handler, undefined);
  assert.ok((m as { allowed: string[] }).allowed.includes('GET'));
});

test('isImageName() accepts references and IDs, refuses traversal and absolute paths', () => {
  for (const ok of [
    'app',
    'app:1.0',
    '127.0.0.1:5000/team/app:latest',
    'localhost/a_b/c-d',
    `sha256:${'a'.repeat(64)}`,
    'abcdef12',
    `app@sha256:${'c'.repeat(64)}`,
  ])
    assert.ok(isImageName(ok), ok);
  for (const bad of ['../etc', 'a/../b', '/etc/passwd', 'App', 'a//b', '', 'a\nb', 'x'.repeat(600), '..']) assert.not.ok(isImageName(bad), bad);
});

test('POST /containers/prune is the prune route, not a container id', () => {
  const m = router.match('POST', '/v1.45/containers/prune');
  assert.ok(m.handler);
  assert.is.not(m.handler, router.match('DELETE', '/v1.45/containers/abc').handler);
  assert.equal((m as { params: Record<string, string> }).params, {});
});

test.run();
