// WORKDIR's directories belong to the USER in effect, resolved with BuildKit's file-op rules (its mkdir takes
// llb.WithUser(USER); readUser's ByID case gives gid = uid), not with RUN's process-user rules (moby's
// GetExecUser: a numeric uid takes its passwd group, else 0). Needs root and runc (a real build).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHarness, type Harness } from '../builder/harness.js';

let h: Harness;

test.before(async () => {
  h = await createHarness();
});
test.after(async () => {
  await h?.close();
});

test('WORKDIR under a numeric USER without a group gives gid = uid (BuildKit); RUN keeps its own rules', async () => {
  const ctx = await h.context({
    Dockerfile: [
      'FROM busybox',
      "RUN echo 'u4242:x:4242:100::/:/bin/sh' >> /etc/passwd",
      'USER 9999',
      'WORKDIR /w9999/sub',
      'RUN id -g > /w9999/sub/rungid',
      'USER 4242',
      'WORKDIR /w4242',
      'USER u4242',
      'WORKDIR /wname',
      'USER 9999:5',
      'WORKDIR /wpair',
      'USER 9999:',
      'WORKDIR /wcolon',
      '',
    ].join('\n'),
  });
  await h.build(ctx, { tags: ['workdir-user:1'] });
  const tree = new Map((await h.tree('workdir-user:1')).map((e) => [e.path, e]));
  const owner = (p: string) => {
    const e = tree.get(p);
    assert.ok(e, `${p} exists in the image`);
    return `${e!.uid}:${e!.gid}`;
  };
  assert.is(owner('w9999'), '9999:9999', 'no passwd entry: gid = uid (was 9999:0)');
  assert.is(owner('w9999/sub'), '9999:9999');
  assert.is(owner('w4242'), '4242:4242', 'a number is taken as it is, even when passwd lists it with another group');
  assert.is(owner('wname'), '4242:100', 'a name brings its primary group');
  assert.is(owner('wpair'), '9999:5');
  assert.is(owner('wcolon'), '9999:9999');
  // RUN under USER 9999 runs with gid 0 (no passwd entry), as Docker's runtime does; its file shows it.
  assert.is(owner('w9999/sub/rungid'), '9999:0');
});

test.run();
