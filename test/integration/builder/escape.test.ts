import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHarness, type Harness } from './harness.js';

let h: Harness;

test.before(async () => {
  h = await createHarness();
});
test.after(async () => {
  await h?.close();
});

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

test('a destination symlink to / and a stage path through a symlink to / stay inside their roots', async () => {
  const ctx = await h.fixture('escape');
  const r = await h.build(ctx, { tags: ['esc:1'] });
  assert.ok(r.stepsExecuted > 0);
  for (const p of ['/kiln-escape-dest.txt', '/kiln-escape-archive.txt', join(h.dir, 'kiln-escape-archive.txt')]) {
    assert.not.ok(await exists(p), `${p} was written on the host`);
  }
  const tree = await h.tree('esc:1');
  const paths = tree.map((e) => e.path);
  assert.ok(paths.includes('kiln-escape-dest.txt'), 'COPY through /out -> / landed at the image root');
  assert.not.ok(paths.some((p) => p.includes('..')));
  const img = await h.image('esc:1');
  const last = img.manifest.layers.at(-1)!;
  const { gunzipSync } = await import('node:zlib');
  const layer = gunzipSync(await h.builder.root.content.readBuffer(last.digest)).toString('latin1');
  assert.match(layer, /stage-hostname/, "COPY --from read the stage's own /etc through /rootlink");
  assert.not.match(layer, new RegExp((await readFile('/etc/hostname', 'utf8')).trim() + '\\n'), "not the host's");
});

test('an archive with ../ entries is refused (or confined), never written outside', async () => {
  const ctx = await h.fixture('escape');
  await writeFile(join(ctx, 'Dockerfile'), 'FROM busybox\nADD evil.tar /unpacked/\n');
  let err: unknown;
  try {
    await h.build(ctx, { tags: ['esc:3'] });
  } catch (e) {
    err = e;
  }
  for (const p of ['/kiln-escape-archive.txt', '/unpacked/kiln-escape-archive.txt', join(h.dir, 'kiln-escape-archive.txt')]) {
    assert.not.ok(await exists(p), `${p} was written on the host`);
  }
  if (err) {
    assert.match(String((err as Error).message), /outside/);
    assert.is(await h.builder.root.images.find('esc:3'), undefined);
  } else {
    assert.not.ok((await h.tree('esc:3')).some((e) => e.path.includes('..')));
  }
});

test('a context symlink to /etc/shadow never copies the host file', async () => {
  const ctx = await h.fixture('escape');
  await writeFile(join(ctx, 'Dockerfile'), 'FROM busybox\nCOPY shadow-link /copied\n');
  const shadow = (await readFile('/etc/shadow', 'utf8')).split('\n')[0]!;
  try {
    await h.build(ctx, { tags: ['esc:2'] });
  } catch (err) {
    assert.match(String((err as Error).message), /shadow|not found|outside/i);
    return;
  }
  const img = await h.image('esc:2');
  const { gunzipSync } = await import('node:zlib');
  for (const l of img.manifest.layers.slice(1)) {
    const text = gunzipSync(await h.builder.root.content.readBuffer(l.digest)).toString('latin1');
    assert.not.ok(text.includes(shadow), 'the host /etc/shadow leaked into a layer');
  }
});

test.run();
