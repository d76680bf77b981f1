import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { errorFor } from '../../../src/registry/registry-error.js';

const ctx = { where: '127.0.0.1:5000/team/app', what: 'manifest "v9"' };

test('401/403/404 map to distinct codes naming registry and repository', () => {
  const e401 = errorFor(401, [{ code: 'UNAUTHORIZED', message: 'authentication required' }], ctx);
  assert.is(e401.code, 'REGISTRY_UNAUTHORIZED');
  assert.match(e401.message, /^127\.0\.0\.1:5000\/team\/app: manifest "v9": authentication required/);
  assert.match(e401.hint!, /kiln login 127\.0\.0\.1:5000/);
  assert.is(errorFor(403, [{ code: 'DENIED' }], ctx).code, 'REGISTRY_DENIED');
  const e404 = errorFor(404, [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }], ctx);
  assert.is(e404.code, 'REGISTRY_NOT_FOUND');
  assert.match(e404.message, /MANIFEST_UNKNOWN/);
  assert.match(errorFor(404, [{ code: 'NAME_UNKNOWN' }], ctx).message, /repository not found/);
});

test('BLOB_UPLOAD_INVALID is a protocol error with a hint; 5xx and 429 are unavailable', () => {
  const e = errorFor(400, [{ code: 'BLOB_UPLOAD_INVALID', message: 'blob upload invalid' }], { where: 'r/x', what: 'upload' });
  assert.is(e.code, 'REGISTRY_PROTOCOL');
  assert.match(e.message, /BLOB_UPLOAD_INVALID/);
  assert.ok(e.hint);
  assert.is(errorFor(503, [], ctx).code, 'REGISTRY_UNAVAILABLE');
  assert.is(errorFor(429, [], ctx).code, 'REGISTRY_UNAVAILABLE');
});

test.run();
