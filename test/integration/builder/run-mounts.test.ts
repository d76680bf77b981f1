import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { rejects } from '../../helpers/assert.js';
import { createHarness, executedSteps, type Harness } from './harness.js';

let h: Harness;

test.before(async () => {
  h = await createHarness();
});
test.after(async () => {
  await h?.close();
});

async function grepDir(dir: string, needle: string): Promise<string[]> {
  const hits: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const p = join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
    if ((await readFile(p)).includes(needle)) hits.push(p);
  }
  return hits;
}

test('a cache mount persists across builds by id and never lands in a layer', async () => {
  const a = await h.context({ Dockerfile: 'FROM busybox\nRUN --mount=type=cache,target=/cache,id=shared echo one >> /cache/log && cp /cache/log /out1\n' });
  await h.build(a, { tags: ['cm:1'] });
  const b = await h.context({ Dockerfile: 'FROM busybox\nRUN --mount=type=cache,id=shared,target=/var/c echo two >> /var/c/log && cp /var/c/log /out2\n' });
  await h.build(b, { tags: ['cm:2'] });
  const tree = await h.tree('cm:2');
  assert.ok(tree.some((e) => e.path === 'out2'));
  assert.not.ok(
    tree.some((e) => e.path.startsWith('var/c')),
    'the cache mount point is not in the layer',
  );
  const root = h.builder.root;
  const img = await h.image('cm:2');
  const blob = await root.content.readBuffer(img.manifest.layers.at(-1)!.digest);
  const { gunzipSync } = await import('node:zlib');
  assert.match(gunzipSync(blob).toString('latin1'), /one\ntwo\n/);
});

test("a cache mount with from= starts as a copy of that stage's source path and then persists", async () => {
  const ctx = await h.context({
    Dockerfile: [
      'FROM busybox AS seed',
      'RUN mkdir -p /data/sub && echo seeded > /data/s && echo deep > /data/sub/d',
      'FROM busybox',
      'RUN --mount=type=cache,id=seeded,target=/c,from=seed,source=/data cat /c/s /c/sub/d > /got && echo more > /c/more',
      'RUN --mount=type=cache,id=seeded,target=/c,from=seed,source=/data ls /c > /list',
      '',
    ].join('\n'),
  });
  await h.build(ctx, { tags: ['cmfrom:1'] });
  const { gunzipSync } = await import('node:zlib');
  const img = await h.image('cmfrom:1');
  const got = await Promise.all(
    [-2, -1].map(async (i) => gunzipSync(await h.builder.root.content.readBuffer(img.manifest.layers.at(i)!.digest)).toString('latin1')),
  );
  assert.match(got[0]!, /seeded\ndeep\n/, "the first user sees the stage's files");
  assert.match(got[1]!, /more\ns\nsub\n/, 'what a step adds persists beside the seed');
  const tree = await h.tree('cmfrom:1');
  assert.not.ok(
    tree.some((e) => e.path === 'c' || e.path.startsWith('c/')),
    'the cache is not in a layer',
  );
});

test('sharing=locked serializes two stages that use the same cache id', async () => {
  const ctx = await h.context({
    Dockerfile: [
      'FROM busybox AS a',
      'RUN --mount=type=cache,id=lk,target=/c,sharing=locked sh -c "echo a-in >> /c/log; sleep 0.4; echo a-out >> /c/log" && echo > /a',
      'FROM busybox AS b',
      'RUN --mount=type=cache,id=lk,target=/c,sharing=locked sh -c "echo b-in >> /c/log; sleep 0.4; echo b-out >> /c/log; cp /c/log /log"',
      'FROM busybox',
      'COPY --from=a /a /a',
      'COPY --from=b /log /log',
      '',
    ].join('\n'),
  });
  await h.build(ctx, { tags: ['locked:1'] });
  const { gunzipSync } = await import('node:zlib');
  const img = await h.image('locked:1');
  const text = gunzipSync(await h.builder.root.content.readBuffer(img.manifest.layers.at(-1)!.digest)).toString('latin1');
  const log = /((?:[ab]-(?:in|out)\n)+)/.exec(text)?.[1] ?? '';
  // Whoever went first finished before the other started (b's copy may or may not include a's lines).
  assert.ok(/^(a-in\na-out\n)?b-in\nb-out\n$/.test(log), JSON.stringify(log));
});

test('a secret reaches the step as a file and as an env var, but no layer, record or config holds it', async () => {
  const secretFile = join(h.dir, 'token.txt');
  await writeFile(secretFile, 's3cr3t-value');
  process.env.KILN_TEST_SECRET = 'env-s3cr3t';
  const ctx = await h.context({
    Dockerfile: [
      'FROM busybox',
      // The Dockerfile must not spell the secret (it would be in the history then): check its length only.
      'RUN --mount=type=secret,id=tok test "$(wc -c < /run/secrets/tok)" -eq 12 && echo file-ok > /ok1',
      'RUN --mount=type=secret,id=envtok,env=TOK test "${#TOK}" -eq 10 && echo env-ok > /ok2',
      '',
    ].join('\n'),
  });
  const secrets = [
    { id: 'tok', src: secretFile },
    { id: 'envtok', env: 'KILN_TEST_SECRET' },
  ];
  const r = await h.build(ctx, { tags: ['sec:1'], secrets });
  assert.is(r.stepsExecuted, 2);
  const tree = await h.tree('sec:1');
  assert.ok(tree.some((e) => e.path === 'ok1') && tree.some((e) => e.path === 'ok2'));
  assert.not.ok(tree.some((e) => e.path.startsWith('run/secrets')));
  assert.equal(await grepDir(h.rootDir, 's3cr3t'), [], 'no file under the state root holds the secret');
  // The secret's value is not part of the key: a new value still hits (as BuildKit).
  await writeFile(secretFile, 'other');
  assert.is((await h.build(ctx, { secrets })).stepsExecuted, 0);
});

test('a required secret that was not given fails with SECRET_NOT_FOUND', async () => {
  const ctx = await h.context({ Dockerfile: 'FROM busybox\nRUN --mount=type=secret,id=missing,required=true cat /run/secrets/missing\n' });
  await rejects(() => h.build(ctx), 'SECRET_NOT_FOUND');
});

test('tmpfs and bind mounts (context and stage) are visible to the step and keyed by their content', async () => {
  const ctx = await h.context({
    Dockerfile: [
      'FROM busybox AS gen',
      'RUN mkdir /out && echo generated > /out/g.txt',
      'FROM busybox',
      'RUN --mount=type=tmpfs,target=/scratch touch /scratch/x && grep -q " /scratch tmpfs" /proc/mounts && echo tmpfs-ok > /t',
      'RUN --mount=type=bind,source=data,target=/mnt cat /mnt/a.txt > /from-context',
      'RUN --mount=type=bind,from=gen,source=/out,target=/g cat /g/g.txt > /from-stage',
      '',
    ].join('\n'),
    'data/a.txt': 'bound v1\n',
  });
  await h.build(ctx, { tags: ['mnt:1'] });
  const tree = await h.tree('mnt:1');
  for (const p of ['t', 'from-context', 'from-stage'])
    assert.ok(
      tree.some((e) => e.path === p),
      p,
    );
  assert.not.ok(
    tree.some((e) => e.path === 'scratch' || e.path === 'mnt' || e.path === 'g'),
    'mount points are not in layers',
  );
  await writeFile(join(ctx, 'data/a.txt'), 'bound v2\n');
  const r = await h.build(ctx, { tags: ['mnt:2'], explain: true });
  assert.ok(executedSteps(r.events).includes('RUN --mount=type=bind,source=data,target=/mnt cat /mnt/a.txt > /from-context'));
  assert.not.ok(
    executedSteps(r.events).some((s) => s.includes('tmpfs')),
    'steps before the changed bind source hit',
  );
});

test.run();
