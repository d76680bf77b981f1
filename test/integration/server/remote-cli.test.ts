import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServe, run, type Served } from './serve-helper.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry.js';
import { kiln } from '../../helpers/kiln-cli.js';

let s: Served;
let reg: TestRegistry;
let ctx: string;
let clientRoot: string;
const remote = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  kiln(['--root', clientRoot, ...args], { env: { KILN_HOST: s.host, KILN_TOKEN: s.token, ...env } });

test.before(async () => {
  s = await startServe({ token: true });
  reg = await startRegistry();
  ctx = mkdtempSync(join(tmpdir(), 'kiln-remote-ctx-'));
  clientRoot = mkdtempSync(join(tmpdir(), 'kiln-remote-client-'));
  writeFileSync(join(ctx, 'kept.txt'), 'kept\n');
  writeFileSync(join(ctx, 'secret.log'), 'must not leave the client\n');
  writeFileSync(join(ctx, '.dockerignore'), '*.log\n');
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\nCOPY . /ctx\nRUN ls /ctx | tr "\\n" " " && echo\n');
});

test.after(async () => {
  await s?.stop();
  await reg?.stop();
  rmSync(ctx, { recursive: true, force: true });
  rmSync(clientRoot, { recursive: true, force: true });
});

test("kiln --host build sends the context without .dockerignore'd files and renders the steps locally", async () => {
  const r = await remote(['build', '--progress', 'plain', '-t', 'remote-app:1', ctx]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout.trim(), /^sha256:[a-f0-9]{64}$/);
  assert.match(r.stderr, /#\d+ \[\d\/\d\] RUN ls \/ctx/);
  assert.match(r.stderr, /kept\.txt/);
  assert.not.match(r.stderr, /secret\.log/);
  const local = await kiln(['--root', clientRoot, 'images', '-q']);
  assert.is(local.stdout.trim(), '', 'nothing was built on the client');
});

test('kiln --host images, tag, rmi and push act on the server', async () => {
  const imgs = await remote(['images', 'remote-app']);
  assert.is(imgs.code, 0, imgs.stderr);
  assert.match(imgs.stdout, /remote-app\s+1\s+[a-f0-9]{12}/);
  const t = await remote(['tag', 'remote-app:1', `${reg.host}/remote/app:2`]);
  assert.is(t.code, 0, t.stderr);
  const p = await remote(['push', `${reg.host}/remote/app:2`]);
  assert.is(p.code, 0, p.stderr);
  const tags = await run('curl', ['-sf', `${reg.url}/v2/remote/app/tags/list`]);
  assert.equal(JSON.parse(tags.stdout).tags, ['2']);
  const rmi = await remote(['rmi', `${reg.host}/remote/app:2`]);
  assert.match(rmi.stdout, /Untagged: /);
  const pull = await remote(['pull', `${reg.host}/remote/app:2`]);
  assert.is(pull.code, 0, pull.stderr);
  const gone = await remote(['rmi', 'no-such-image:1']);
  assert.is(gone.code, 3, gone.stderr);
});

test('a failing remote build exits non-zero with the step error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-remote-fail-'));
  writeFileSync(join(dir, 'Dockerfile'), 'FROM busybox\nRUN echo before-failing && exit 5\n');
  const r = await remote(['build', '--progress', 'plain', dir]);
  rmSync(dir, { recursive: true, force: true });
  assert.ok(r.code !== 0);
  assert.match(r.stderr, /before-failing/);
  assert.match(r.stderr, /exit code: 5/);
});

test('kiln --host build refuses what a local build refuses, with the same error (a bare --label K is not dropped)', async () => {
  const cases: string[][] = [
    ['--label', 'K'],
    ['--label', '=v'],
    ['--build-arg', '=v'],
    ['--progress', 'fancy'],
    ['--compression', 'lz4'],
    ['--format', 'appc'],
    ['--network', 'bridge2'],
    ['--allow', 'device'],
  ];
  for (const flags of cases) {
    const r = await remote(['build', ...flags, '-t', 'never-built:1', ctx]);
    const l = await kiln(['--root', clientRoot, 'build', ...flags, '-t', 'never-built:1', ctx]);
    assert.is(r.code, 2, `${flags.join(' ')}: ${r.stderr}`);
    assert.is(r.code, l.code, flags.join(' '));
    assert.is(r.stderr, l.stderr, flags.join(' '));
  }
  const imgs = await kiln(['images', '-q', 'never-built'], { root: s.root });
  assert.is(imgs.stdout.trim(), '', 'nothing was built on the server');
});

test('kiln --host build refuses, with a hint, the flags the build API cannot carry, an entitlement the server does not allow, and --push without -t', async () => {
  const cases: Array<[string[], RegExp]> = [
    // --allow travels to the server (kilnallow), which grants only what its operator allowed: this one allows none.
    [['--allow', 'security.insecure'], /the security\.insecure entitlement is not allowed by this server/],
    [['--compression', 'zstd'], /--compression zstd is not supported with --host/],
    [['--format', 'docker'], /--format docker is not supported with --host/],
    [['--ssh', 'default=/nonexistent.sock'], /--ssh is not supported with --host/],
  ];
  for (const [flags, message] of cases) {
    const r = await remote(['build', ...flags, '-t', 'never-built:1', ctx]);
    assert.is.not(r.code, 0, flags.join(' '));
    assert.match(r.stderr, message);
    assert.match(r.stderr, /^hint: /m);
  }
  const push = await remote(['build', '--push', ctx]);
  assert.is(push.code, 2, push.stderr);
  assert.match(push.stderr, /--push needs a tag/);
  const imgs = await kiln(['images', '-q', 'never-built'], { root: s.root });
  assert.is(imgs.stdout.trim(), '', 'nothing was built on the server');
});

test("kiln --host build honours --metadata-file, --iidfile and --label on the server's image", async () => {
  const out = mkdtempSync(join(tmpdir(), 'kiln-remote-meta-'));
  try {
    const r = await remote([
      'build',
      '-q',
      '--label',
      'team=kiln',
      '--metadata-file',
      join(out, 'meta.json'),
      '--iidfile',
      join(out, 'iid'),
      '-t',
      'remote-meta:1',
      ctx,
    ]);
    assert.is(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    assert.is(readFileSync(join(out, 'iid'), 'utf8'), id);
    const meta = JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8'));
    assert.is(meta['containerimage.config.digest'], id);
    assert.match(meta['containerimage.digest'], /^sha256:[a-f0-9]{64}$/);
    assert.is(meta['image.name'], 'remote-meta:1');
    const inspect = await kiln(['inspect', '--format', '{{json .Config.Labels}}', 'remote-meta:1'], { root: s.root });
    assert.is(inspect.code, 0, inspect.stderr);
    assert.equal(JSON.parse(inspect.stdout), { team: 'kiln' });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('without the token the remote CLI gets an authentication error', async () => {
  const r = await remote(['images'], { KILN_TOKEN: '' });
  assert.is(r.code, 7, r.stderr);
  assert.match(r.stderr, /authentication required/);
});

test.run();
