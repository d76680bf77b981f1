/** `kiln run IMAGE` pulls a missing image from a (loopback) registry as `docker run` does; `--pull` as Docker's. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupStale } from '../../../src/sandbox/cleanup.js';
import { kiln } from '../../helpers/kiln-cli.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry.js';

let dir = '';
let src = '';
let reg: TestRegistry;
let image = '';

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-run-pull-'));
  src = join(dir, 'src');
  reg = await startRegistry();
  image = `${reg.host}/tools/box:1`;
  let r = await kiln(['base', 'busybox'], { root: src });
  assert.is(r.code, 0, r.stderr);
  r = await kiln(['tag', 'busybox', image], { root: src });
  assert.is(r.code, 0, r.stderr);
  r = await kiln(['push', image], { root: src });
  assert.is(r.code, 0, r.stderr);
});

test.after(async () => {
  await reg?.stop();
  for (const d of ['a', 'b', 'c']) await cleanupStale(join(dir, d)).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

test('kiln run pulls an image that is not in the store, then runs it; a second run does not pull', async () => {
  const root = join(dir, 'a');
  const r = await kiln(['run', '--rm', '--network', 'none', image, 'echo', 'hi'], { root });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, 'hi\n');
  assert.match(r.stderr, `Unable to find image '${image}' locally`);
  assert.match(r.stderr, '1: Pulling from tools/box');
  assert.match(r.stderr, /Digest: sha256:[a-f0-9]{64}/);
  assert.match(r.stderr, `Status: Downloaded newer image for ${image}`);
  const again = await kiln(['run', '--rm', '--network', 'none', image, 'echo', 'again'], { root });
  assert.is(again.code, 0, again.stderr);
  assert.is(again.stdout, 'again\n');
  assert.not.match(again.stderr, 'Unable to find image');
});

test('--pull=never refuses a missing image without contacting the registry, and creates nothing', async () => {
  const root = join(dir, 'b');
  const r = await kiln(['run', '--rm', '--pull=never', '--network', 'none', image, 'true'], { root });
  assert.is.not(r.code, 0);
  assert.match(r.stderr, `No such image: ${image}`);
  assert.not.match(r.stderr, 'Pulling');
  const images = await kiln(['images'], { root });
  assert.not.match(images.stdout, 'tools/box');
});

test('--pull=always pulls a present image again and reports it up to date', async () => {
  const root = join(dir, 'c');
  let r = await kiln(['pull', image], { root });
  assert.is(r.code, 0, r.stderr);
  r = await kiln(['run', '--rm', '--pull', 'always', '--network', 'none', image, 'echo', 'ok'], { root });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, 'ok\n');
  assert.not.match(r.stderr, 'Unable to find image');
  assert.match(r.stderr, `Status: Image is up to date for ${image}`);
});

test('an unknown --pull value and a missing image in the registry are clear errors', async () => {
  const root = join(dir, 'b');
  let r = await kiln(['run', '--pull=sometimes', image, 'true'], { root });
  assert.is.not(r.code, 0);
  assert.match(r.stderr, 'invalid pull option');
  r = await kiln(['run', '--rm', '--network', 'none', `${reg.host}/tools/nothing:1`, 'true'], { root });
  assert.is.not(r.code, 0);
  assert.match(r.stderr, `Unable to find image '${reg.host}/tools/nothing:1' locally`);
  assert.match(r.stderr, /error: .*tools\/nothing/);
});

test.run();
