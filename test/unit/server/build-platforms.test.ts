import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseBuildQuery } from '../../../src/server/build-params.js';
import { Query } from '../../../src/server/http-util.js';
import { throwsCode } from '../../helpers/assert.js';

const q = (s: string) => new Query(new URLSearchParams(s), 32 * 1024);

test("the build's platform parameter takes one platform or a comma list (one image index), and refuses anything else", () => {
  assert.is(parseBuildQuery(q('platform=linux/arm64')).options.platform, 'linux/arm64');
  assert.is(parseBuildQuery(q('platform=linux/amd64,linux/arm64/v8')).options.platform, 'linux/amd64,linux/arm64/v8');
  assert.is(parseBuildQuery(q('platform=amd64,arm64')).options.platform, 'amd64,arm64');
  throwsCode(() => parseBuildQuery(q('platform=linux/amd64,,')), 'INVALID_ARGUMENT');
  throwsCode(() => parseBuildQuery(q('platform=linux/../arm64')), 'INVALID_ARGUMENT');
});

test.run();
