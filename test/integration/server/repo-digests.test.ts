/** RepoDigests through `kiln serve`: what a push or pull recorded, as `docker images --digests` and inspect show. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startServe, docker, type Served } from './serve-helper.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry.js';

let s: Served;
let reg: TestRegistry;

test.before(async () => {
  s = await startServe();
  reg = await startRegistry();
});

test.after(async () => {
  await s?.stop();
  await reg?.stop();
});

test('an image never pushed has no RepoDigests; after docker push it has repo@digest, as the push reported', async () => {
  const ref = `${reg.host}/team/dig:1`;
  assert.is((await docker(s, ['tag', 'busybox', ref])).code, 0);
  const before = await docker(s, ['inspect', '-f', '{{.RepoDigests}}', ref]);
  assert.is(before.code, 0, before.stderr);
  assert.is(before.stdout.trim(), '[]');

  const push = await docker(s, ['push', ref]);
  assert.is(push.code, 0, push.stderr);
  const digest = /digest: (sha256:[a-f0-9]{64})/.exec(push.stdout)?.[1];
  assert.ok(digest, push.stdout);

  const after = await docker(s, ['inspect', '-f', '{{.RepoDigests}}', ref]);
  assert.is(after.stdout.trim(), `[${reg.host}/team/dig@${digest}]`);
  const list = await docker(s, ['images', '--digests', '--format', '{{.Repository}} {{.Tag}} {{.Digest}}']);
  assert.is(list.code, 0, list.stderr);
  assert.match(list.stdout, `${reg.host}/team/dig 1 ${digest}`);

  // A second repository of the same registry: both show, each with its own name.
  const other = `${reg.host}/team/other:2`;
  assert.is((await docker(s, ['tag', ref, other])).code, 0);
  assert.is((await docker(s, ['push', other])).code, 0);
  const both = await docker(s, ['inspect', '-f', '{{json .RepoDigests}}', ref]);
  assert.equal(JSON.parse(both.stdout), [`${reg.host}/team/dig@${digest}`, `${reg.host}/team/other@${digest}`]);
});

test('a pull through the server records the repository digest too', async () => {
  const ref = `${reg.host}/team/pulled:3`;
  assert.is((await docker(s, ['tag', 'busybox', ref])).code, 0);
  const push = await docker(s, ['push', ref]);
  assert.is(push.code, 0, push.stderr);
  const digest = /digest: (sha256:[a-f0-9]{64})/.exec(push.stdout)?.[1];
  // A fresh server root: only the pull can have recorded it.
  const fresh = await startServe();
  try {
    const pull = await docker(fresh, ['pull', ref]);
    assert.is(pull.code, 0, pull.stderr);
    const i = await docker(fresh, ['inspect', '-f', '{{json .RepoDigests}}', ref]);
    assert.equal(JSON.parse(i.stdout), [`${reg.host}/team/pulled@${digest}`]);
    // RepoDigests belong to the image, not the tag (as dockerd): busybox is the same image here.
    const same = await docker(fresh, ['inspect', '-f', '{{json .RepoDigests}}', 'busybox']);
    assert.equal(JSON.parse(same.stdout), [`${reg.host}/team/pulled@${digest}`]);
  } finally {
    await fresh.stop();
  }
});

test.run();
