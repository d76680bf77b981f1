import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cacheKey, chainId } from '../../../src/graph/cache-key.js';

const base = { op: { kind: 'RUN', args: ['/bin/sh', '-c', 'make'], env: ['PATH=/bin', 'A=1'] }, parent: 'sha256:p', platform: 'linux/amd64' };

test('cacheKey() is stable for the same inputs and ignores object key order', () => {
  const a = cacheKey(base);
  const b = cacheKey({ platform: 'linux/amd64', parent: 'sha256:p', op: { env: ['PATH=/bin', 'A=1'], args: ['/bin/sh', '-c', 'make'], kind: 'RUN' } });
  assert.is(a, b);
  assert.match(a, /^sha256:[0-9a-f]{64}$/);
});

test('cacheKey() ignores proxy variables', () => {
  const withProxy = cacheKey({ ...base, op: { ...base.op, env: ['HTTP_PROXY=http://u:pw@proxy:3128', 'PATH=/bin', 'no_proxy=x', 'A=1'] } });
  assert.is(withProxy, cacheKey(base));
});

test('cacheKey() changes with the parent, an env value, the command, the inputs and the platform', () => {
  const k = cacheKey(base);
  assert.is.not(cacheKey({ ...base, parent: 'sha256:q' }), k);
  assert.is.not(cacheKey({ ...base, op: { ...base.op, env: ['PATH=/bin', 'A=2'] } }), k);
  assert.is.not(cacheKey({ ...base, op: { ...base.op, args: ['/bin/sh', '-c', 'make all'] } }), k);
  assert.is.not(cacheKey({ ...base, inputs: { sources: 'sha256:x' } }), k);
  assert.is.not(cacheKey({ ...base, platform: 'linux/arm64' }), k);
});

test('chainId() follows the OCI ChainID definition', () => {
  assert.is(chainId([]), '');
  assert.is(chainId(['sha256:a']), 'sha256:a');
  const two = chainId(['sha256:a', 'sha256:b']);
  assert.match(two, /^sha256:[0-9a-f]{64}$/);
  assert.is.not(two, chainId(['sha256:b', 'sha256:a']));
});

test.run();
