import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kiln, REPO } from '../../helpers/kiln-cli.js';

let dir: string;
let root: string;
const HELLO = join(REPO, 'fixtures/hello');

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-cli-build-'));
  root = join(dir, 'root');
  const r = await kiln(['base', 'busybox'], { root });
  assert.is(r.code, 0, r.stderr);
});
test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('kiln build tags the image, prints its ID and writes --iidfile and --metadata-file', async () => {
  const iid = join(dir, 'iid');
  const meta = join(dir, 'meta.json');
  const r = await kiln(['build', '-t', 'hello:cli', '--progress', 'plain', '--iidfile', iid, '--metadata-file', meta, HELLO], { root });
  assert.is(r.code, 0, r.stderr);
  const id = r.stdout.trim();
  assert.match(id, /^sha256:[0-9a-f]{64}$/);
  assert.is(await readFile(iid, 'utf8'), id);
  const m = JSON.parse(await readFile(meta, 'utf8'));
  assert.is(m['containerimage.config.digest'], id);
  assert.match(m['containerimage.digest'], /^sha256:/);
  assert.match(r.stderr, /#\d+ \[2\/4\] WORKDIR \/app/);
  const again = await kiln(['build', '-t', 'hello:cli', '--progress', 'plain', HELLO], { root });
  assert.is(again.stdout.trim(), id);
  assert.is((again.stderr.match(/CACHED/g) ?? []).length, 3);
});

test('--progress json prints one event per line', async () => {
  const r = await kiln(['build', '--progress', 'json', HELLO], { root });
  assert.is(r.code, 0, r.stderr);
  const events = r.stderr
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.ok(events.some((e) => e.type === 'step-cached'));
  assert.is(events.at(-1).type, 'build-done');
});

test('--output writes oci and docker archives, a rootfs tar and a local directory', async () => {
  const oci = join(dir, 'img-oci.tar');
  const docker = join(dir, 'img-docker.tar');
  const rootfsTar = join(dir, 'rootfs.tar');
  const local = join(dir, 'rootfs');
  const r = await kiln(
    [
      'build',
      '-t',
      'hello:out',
      '--output',
      `type=oci,dest=${oci}`,
      '--output',
      `type=docker,dest=${docker}`,
      '--output',
      `type=tar,dest=${rootfsTar}`,
      '--output',
      `type=local,dest=${local}`,
      HELLO,
    ],
    { root },
  );
  assert.is(r.code, 0, r.stderr);
  const inspected = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', `oci-archive:${oci}`], { encoding: 'utf8' }));
  assert.is(inspected.layers.length, 4);
  const dockerList = execFileSync('tar', ['-tf', docker], { encoding: 'utf8' });
  assert.match(dockerList, /manifest\.json/);
  assert.match(execFileSync('tar', ['-tf', rootfsTar], { encoding: 'utf8' }), /app\/built\.txt/);
  assert.match(await readFile(join(local, 'app/built.txt'), 'utf8'), /hello from a RUN step/);
  assert.ok((await stat(join(local, 'bin/busybox'))).isFile());
});

test('--compression zstd and --format docker change the layer and manifest media types', async () => {
  const r = await kiln(['build', '-t', 'hello:zstd', '--compression', 'zstd', HELLO], { root });
  assert.is(r.code, 0, r.stderr);
  const ins = JSON.parse((await kiln(['inspect', 'hello:zstd'], { root })).stdout)[0];
  assert.is(ins.Manifest.layers.at(-1).mediaType, 'application/vnd.oci.image.layer.v1.tar+zstd');
  const d = await kiln(['build', '-t', 'hello:docker', '--format', 'docker', HELLO], { root });
  assert.is(d.code, 0, d.stderr);
  const di = JSON.parse((await kiln(['inspect', 'hello:docker'], { root })).stdout)[0];
  assert.is(di.Descriptor.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
});

test('CONTEXT - reads a tar of the context from stdin; -f - reads the Dockerfile from stdin', async () => {
  const tarball = execFileSync('tar', ['-c', '-C', HELLO, '.']);
  const r = await kiln(['build', '-t', 'hello:stdin', '-'], { root, input: tarball });
  assert.is(r.code, 0, r.stderr);
  const f = await kiln(['build', '-t', 'hello:df', '-f', '-', HELLO], { root, input: 'FROM busybox\nCOPY message.txt /m.txt\n' });
  assert.is(f.code, 0, f.stderr);
});

test('a failed step exits non-zero with Dockerfile:line and the output tail, tagging nothing', async () => {
  const r = await kiln(['build', '-t', 'bad:1', '--progress', 'plain', '-f', '-', HELLO], { root, input: 'FROM busybox\nRUN echo oops-output && exit 4\n' });
  assert.is(r.code, 1);
  assert.match(r.stderr, /error: Dockerfile:2: process "\/bin\/sh -c echo oops-output && exit 4" did not complete successfully: exit code: 4/);
  assert.match(r.stderr, /oops-output/);
  const img = await kiln(['inspect', 'bad:1'], { root });
  assert.is.not(img.code, 0);
});

test('--secret, --build-arg, --label, --target and --compression none reach the build', async () => {
  const secret = join(dir, 'tok');
  await (await import('node:fs/promises')).writeFile(secret, 'abc123');
  const df = [
    'FROM busybox AS first',
    'ARG WHO',
    'RUN --mount=type=secret,id=tok test "$(cat /run/secrets/tok | wc -c)" -eq 6 && echo "$WHO" > /who',
    'FROM busybox',
    'RUN exit 1',
    '',
  ].join('\n');
  const r = await kiln(
    [
      'build',
      '-t',
      'flags:1',
      '--target',
      'first',
      '--secret',
      `id=tok,src=${secret}`,
      '--build-arg',
      'WHO=cli',
      '--label',
      'a=b',
      '--compression',
      'none',
      '-f',
      '-',
      HELLO,
    ],
    { root, input: df },
  );
  assert.is(r.code, 0, r.stderr);
  const ins = JSON.parse((await kiln(['inspect', 'flags:1'], { root })).stdout)[0];
  assert.equal(ins.Config.Labels, { a: 'b' });
  assert.is(ins.Manifest.layers.at(-1).mediaType, 'application/vnd.oci.image.layer.v1.tar');
});

test('bad flags are refused with a clear error', async () => {
  const r = await kiln(['build', '--compression', 'lz4', HELLO], { root });
  assert.is(r.code, 2);
  assert.match(r.stderr, /--compression must be gzip, zstd or none/);
});

test.run();
