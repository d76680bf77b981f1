import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { gunzipSync } from 'node:zlib';
import { readTar } from '../../../src/tar/reader.js';
import { createHarness, type Harness } from './harness.js';

let h: Harness;
let ctx: string;

test.before(async () => {
  h = await createHarness();
  ctx = await h.fixture('everything');
});
test.after(async () => {
  await h?.close();
});

test('metadata instructions land in the config exactly as Docker writes them', async () => {
  const r = await h.build(ctx, { tags: ['everything:1'], labels: { 'org.example.cli': 'yes' } });
  assert.ok(!r.events.some((e) => e.type === 'step-start' && e.step.stage === 'unused'), 'the unneeded stage never starts');
  const img = await h.image('everything:1');
  const c = img.config.config!;
  assert.equal(c.Env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'GREETING=hello world', 'EMPTY=']);
  assert.equal(c.Labels, { 'org.example.stage': 'base', 'org.example.cli': 'yes' });
  assert.equal(c.ExposedPorts, { '8080/tcp': {}, '53/udp': {} });
  assert.equal(c.Volumes, { '/data': {} });
  assert.is(c.User, '1000:1000');
  assert.is(c.StopSignal, 'SIGTERM');
  assert.equal(c.Healthcheck, { Test: ['CMD-SHELL', 'wget -q -O- http://localhost:8080/ || exit 1'], Interval: 30e9, Timeout: 5e9, Retries: 3 });
  assert.equal(c.Shell, ['/bin/sh', '-ec']);
  assert.equal(c.Entrypoint, ['/bin/sh', '-c']);
  assert.equal(c.Cmd, ['echo hi'], 'CMD set in this stage survives a later ENTRYPOINT');
  assert.equal(c.OnBuild, ['RUN echo triggered > /tmp/onbuild.txt']);
  assert.is(img.config.author, 'someone@example.com');
  const hist = img.config.history!;
  assert.is(hist.filter((e) => !e.empty_layer).length, img.manifest.layers.length, 'one non-empty history entry per layer');
  assert.ok(hist.some((e) => e.created_by === 'ENV GREETING=hello world EMPTY=' && e.empty_layer));
  assert.not.ok(hist.some((e) => e.created_by?.includes('this stage is not needed')));
});

test('the file tree has copied, added, linked and owned files and the deleted base file is gone', async () => {
  const tree = await h.tree('everything:1');
  const get = (p: string) => tree.find((e) => e.path === p);
  assert.is(get('app/app.txt')?.mode, '0640');
  assert.is(get('app/app.txt')?.uid, 1000);
  assert.is(get('app/current')?.link, 'version.txt');
  assert.is(get('app/hard.txt')?.hardlinkOf ?? get('app/version.txt')?.hardlinkOf, get('app/hard.txt')?.hardlinkOf ? 'app/version.txt' : 'app/hard.txt');
  assert.is(get('app/hard.txt')?.uid, 1000);
  assert.ok(get('opt/pkg/file.txt'), 'ADD extracted the local tar');
  assert.ok(get('etc/motd'), 'heredoc COPY wrote /etc/motd');
  assert.ok(get('net.txt'), 'RUN --network=none ran');
  assert.ok(get('data/keep.txt'));
  assert.not.ok(get('data/base.txt'), 'RUN rm removed a file of an earlier layer');
});

test('a deletion is a whiteout in its layer', async () => {
  const img = await h.image('everything:1');
  const idx = img.config.history!.filter((e) => !e.empty_layer).findIndex((e) => e.created_by?.includes('rm /data/base.txt'));
  const layer = img.manifest.layers[idx]!;
  const names: string[] = [];
  const root = h.builder.root;
  const gz = await root.content.readBuffer(layer.digest);
  for await (const m of readTar(
    (async function* () {
      yield gunzipSync(gz);
    })(),
  ))
    names.push(m.entry.name);
  assert.ok(names.includes('data/.wh.base.txt'), names.join(','));
});

test('ONBUILD triggers run when the image is used as a base, and are not inherited', async () => {
  const child = await h.context({ Dockerfile: 'FROM everything:1\nRUN cat /tmp/onbuild.txt\n' });
  const r = await h.build(child, { tags: ['child:1'] });
  assert.ok(r.events.some((e) => e.type === 'step-start' && e.step.text === 'RUN echo triggered > /tmp/onbuild.txt'));
  const img = await h.image('child:1');
  assert.is(img.config.config?.OnBuild, null);
  assert.ok((await h.tree('child:1')).some((e) => e.path === 'tmp/onbuild.txt'));
});

test('--target builds only the named stage and the ones it needs', async () => {
  const r = await h.build(ctx, { tags: ['builder:1'], target: 'builder' });
  const stages = new Set(r.events.filter((e) => e.type === 'step-start').map((e) => (e as { step: { stage: string } }).step.stage));
  assert.equal([...stages].sort(), ['base', 'builder']);
  assert.is((await h.image('builder:1')).config.config?.WorkingDir, '/src');
});

test('ENTRYPOINT resets a CMD inherited from the base image', async () => {
  const c1 = await h.context({ Dockerfile: 'FROM busybox\nCMD ["inherited"]\n' });
  await h.build(c1, { tags: ['withcmd:1'] });
  const c2 = await h.context({ Dockerfile: 'FROM withcmd:1\nENTRYPOINT ["/bin/true"]\n' });
  await h.build(c2, { tags: ['ep:1'] });
  const cfg = (await h.image('ep:1')).config.config!;
  assert.equal(cfg.Entrypoint, ['/bin/true']);
  assert.is(cfg.Cmd, null);
});

test('COPY --from an image and ADD of a URL with --checksum (a loopback server)', async () => {
  const { createServer } = await import('node:http');
  const { createHash } = await import('node:crypto');
  const body = 'downloaded by ADD\n';
  const server = createServer((_req, res) => res.end(body));
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as { port: number }).port;
  try {
    const sum = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    const ctx = await h.context({
      Dockerfile: `FROM busybox\nCOPY --from=busybox:latest /etc/passwd /from-image-passwd\nADD --checksum=${sum} http://127.0.0.1:${port}/file.txt /dl/\n`,
    });
    await h.build(ctx, { tags: ['fromurl:1'] });
    const tree = await h.tree('fromurl:1');
    assert.ok(tree.some((e) => e.path === 'from-image-passwd'));
    assert.is(tree.find((e) => e.path === 'dl/file.txt')?.size, body.length);
    const bad = await h.context({ Dockerfile: `FROM busybox\nADD --checksum=sha256:${'0'.repeat(64)} http://127.0.0.1:${port}/file.txt /dl/\n` });
    let err: unknown;
    await h.build(bad).catch((e) => (err = e));
    assert.is((err as { code?: string })?.code, 'CHECKSUM_MISMATCH');
  } finally {
    server.close();
  }
});

test('COPY --link layers do not depend on the base: a new base image reuses them without copying again', async () => {
  const root = h.builder.root;
  const one = await h.context({ Dockerfile: 'FROM busybox\nRUN echo one > /base.txt\n' });
  const two = await h.context({ Dockerfile: 'FROM busybox\nRUN echo two > /base.txt\n' });
  await h.build(one, { tags: ['linkbase:one'] });
  await h.build(two, { tags: ['linkbase:two'] });
  await root.images.tag('linkbase:current', (await h.image('linkbase:one')).descriptor);
  const app = await h.context({
    Dockerfile: 'FROM linkbase:current\nCOPY --link --chown=nobody app.txt /srv/app.txt\nRUN cat /srv/app.txt /base.txt > /both\n',
    'app.txt': 'the app\n',
  });
  const first = await h.build(app, { tags: ['linked:1'] });
  assert.is(first.stepsExecuted, 2);
  await root.images.tag('linkbase:current', (await h.image('linkbase:two')).descriptor);
  const second = await h.build(app, { tags: ['linked:2'] });
  assert.equal(
    second.events.filter((e) => e.type === 'step-cached').map((e) => (e as { step: { text: string } }).step.text),
    ['COPY --link --chown=nobody app.txt /srv/app.txt'],
  );
  assert.is(second.stepsExecuted, 1, 'only the RUN after it re-runs');
  const [i1, i2] = [await h.image('linked:1'), await h.image('linked:2')];
  assert.is(i1.manifest.layers.at(-2)!.digest, i2.manifest.layers.at(-2)!.digest, 'the same --link layer in both images');
  const tree = await h.tree('linked:2');
  assert.is(tree.find((e) => e.path === 'srv/app.txt')?.uid, 65534);
  assert.is(tree.find((e) => e.path === 'both')?.size, 'the app\ntwo\n'.length);
});

test.run();
