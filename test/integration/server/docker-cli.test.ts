import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServe, docker, run, type Served } from './serve-helper.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry.js';

let s: Served;
let reg: TestRegistry;
let ctx: string;
let outside: string;

test.before(async () => {
  s = await startServe({ token: true });
  reg = await startRegistry();
  ctx = mkdtempSync(join(tmpdir(), 'kiln-docker-ctx-'));
  outside = mkdtempSync(join(tmpdir(), 'kiln-docker-df-'));
  writeFileSync(join(ctx, 'hello.txt'), 'hello from the context\n');
  writeFileSync(
    join(ctx, 'Dockerfile'),
    [
      'FROM busybox AS base',
      'ARG GREETING=hi',
      'COPY hello.txt /hello.txt',
      'RUN echo "greeting=$GREETING" && cat /hello.txt',
      'FROM base AS final',
      'RUN echo final-stage > /final.txt',
      'CMD ["cat", "/hello.txt"]',
      '',
    ].join('\n'),
  );
  mkdirSync(join(ctx, 'sub'));
  writeFileSync(join(ctx, 'sub', 'data.txt'), 'data\n');
});

test.after(async () => {
  await s?.stop();
  await reg?.stop();
  rmSync(ctx, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

test('docker build with tags, build args, labels and a target streams the step output', async () => {
  const r = await docker(s, ['build', '-t', 'app:1', '-t', 'app:latest', '--build-arg', 'GREETING=bonjour', '--label', 'team=kiln', '--target', 'base', '.'], {
    cwd: ctx,
  });
  assert.is(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /greeting=bonjour/);
  assert.match(r.stdout, /hello from the context/);
  assert.match(r.stdout, /Successfully tagged app:1/);
  assert.not.match(r.stdout, /final-stage/);
  const inspect = await docker(s, ['image', 'inspect', 'app:1']);
  assert.is(inspect.code, 0, inspect.stderr);
  const [img] = JSON.parse(inspect.stdout);
  assert.is(img.Config.Labels.team, 'kiln');
  assert.ok(img.RepoTags.includes('app:1') && img.RepoTags.includes('app:latest'));
});

test('docker build -q prints only the image ID, which inspect knows', async () => {
  const r = await docker(s, ['build', '-q', '.'], { cwd: ctx });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout.trim(), /^sha256:[a-f0-9]{64}$/);
  const i = await docker(s, ['inspect', '--format', '{{.Id}}', r.stdout.trim()]);
  assert.is(i.stdout.trim(), r.stdout.trim());
});

test('docker build -f with a Dockerfile outside the context', async () => {
  writeFileSync(join(outside, 'Dockerfile.other'), 'FROM busybox\nCOPY sub/data.txt /data.txt\nRUN cat /data.txt && echo from-outside-dockerfile\n');
  const r = await docker(s, ['build', '-f', join(outside, 'Dockerfile.other'), '-t', 'other', '.'], { cwd: ctx });
  assert.is(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /from-outside-dockerfile/);
});

test('docker build --add-host reaches RUN steps as an /etc/hosts line (IP then name)', async () => {
  writeFileSync(join(outside, 'Dockerfile.hosts'), 'FROM busybox\nRUN grep -E "^10\\.1\\.2\\.3[[:space:]]+build-peer$" /etc/hosts && echo hosts-line-ok\n');
  const r = await docker(s, ['build', '--no-cache', '--add-host', 'build-peer:10.1.2.3', '-f', join(outside, 'Dockerfile.hosts'), '.'], { cwd: ctx });
  assert.is(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /hosts-line-ok/);
});

test('a failing RUN makes docker build exit 1 and shows the step output', async () => {
  writeFileSync(join(outside, 'Dockerfile.fail'), 'FROM busybox\nRUN echo about-to-fail && exit 3\n');
  const r = await docker(s, ['build', '-f', join(outside, 'Dockerfile.fail'), '.'], { cwd: ctx });
  assert.is(r.code, 1);
  assert.match(r.stdout, /about-to-fail/);
  assert.match(r.stderr, /exit code: 3|non-zero code: 3/);
  assert.match(r.stderr, /^Dockerfile:2: /m, "named as the user knows it, not by the CLI's random name");
});

test('docker images, tag and rmi', async () => {
  const t = await docker(s, ['tag', 'app:1', `${reg.host}/team/app:v1`]);
  assert.is(t.code, 0, t.stderr);
  const list = await docker(s, ['images', '--format', '{{.Repository}}:{{.Tag}}']);
  assert.ok(list.stdout.split('\n').includes(`${reg.host}/team/app:v1`), list.stdout);
  const filtered = await docker(s, ['images', '--format', '{{.Repository}}:{{.Tag}}', 'app']);
  assert.equal(filtered.stdout.trim().split('\n').sort(), ['app:1', 'app:latest']);
  await docker(s, ['tag', 'app:1', 'scratchpad:x']);
  const rmi = await docker(s, ['rmi', 'scratchpad:x']);
  assert.is(rmi.code, 0, rmi.stderr);
  assert.match(rmi.stdout, /Untagged: scratchpad:x/);
  const gone = await docker(s, ['image', 'inspect', 'scratchpad:x']);
  assert.is(gone.code, 1);
  const missing = await docker(s, ['rmi', 'nothing-here:1']);
  assert.is(missing.code, 1);
  assert.match(missing.stderr, /nothing-here/);
});

test('docker push to a loopback registry, then pull it back', async () => {
  const p = await docker(s, ['push', `${reg.host}/team/app:v1`]);
  assert.is(p.code, 0, p.stderr + p.stdout);
  assert.match(p.stdout, /v1: digest: sha256:[a-f0-9]{64} size: \d+/);
  const tags = await run('curl', ['-sf', `${reg.url}/v2/team/app/tags/list`]);
  assert.equal(JSON.parse(tags.stdout).tags, ['v1']);
  assert.is((await docker(s, ['rmi', `${reg.host}/team/app:v1`])).code, 0);
  const pull = await docker(s, ['pull', `${reg.host}/team/app:v1`]);
  assert.is(pull.code, 0, pull.stderr + pull.stdout);
  const a = await docker(s, ['inspect', '--format', '{{.Id}}', `${reg.host}/team/app:v1`]);
  const b = await docker(s, ['inspect', '--format', '{{.Id}}', 'app:1']);
  assert.is(a.stdout.trim(), b.stdout.trim());
});

test('docker run --rm IMAGE echo hi prints hi and leaves no container', async () => {
  const r = await docker(s, ['run', '--rm', 'app:1', 'echo', 'hi']);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, 'hi\n');
  assert.is((await docker(s, ['build', '-q', '-t', 'app:final', '.'], { cwd: ctx })).code, 0);
  const c = await docker(s, ['run', '--rm', 'app:final']);
  assert.is(c.stdout, 'hello from the context\n');
  const e = await docker(s, ['run', '--rm', 'app:1', 'sh', '-c', 'echo to-stderr >&2; exit 4']);
  assert.is(e.code, 4);
  assert.match(e.stderr, /to-stderr/);
  const i = await docker(s, ['run', '-i', '--rm', 'app:1', 'cat'], { input: 'through-stdin\n' });
  assert.is(i.stdout, 'through-stdin\n', i.stderr);
  const ps = await docker(s, ['ps', '-a', '-q']);
  assert.is(ps.stdout.trim(), '');
  assert.equal(readdirSync(join(s.root, 'containers')), []);
});

test('docker save/load round-trip; history, system df, image prune and builder prune answer', async () => {
  const tarPath = join(outside, 'saved.tar');
  assert.is((await docker(s, ['save', '-o', tarPath, 'app:1'])).code, 0);
  const before = (await docker(s, ['inspect', '--format', '{{.Id}}', 'app:1'])).stdout.trim();
  await docker(s, ['tag', 'app:1', 'app:keep']);
  assert.is((await docker(s, ['rmi', 'app:1'])).code, 0);
  const load = await docker(s, ['load', '-i', tarPath]);
  assert.is(load.code, 0, load.stderr);
  assert.match(load.stdout, /Loaded image: app:1/);
  assert.is((await docker(s, ['inspect', '--format', '{{.Id}}', 'app:1'])).stdout.trim(), before);
  const df = await docker(s, ['system', 'df']);
  assert.is(df.code, 0, df.stderr);
  assert.match(df.stdout, /Images\s+\d+/);
  const history = await docker(s, ['history', 'app:1']);
  assert.is(history.code, 0, history.stderr);
  assert.match(history.stdout, /COPY hello\.txt/);
  const iprune = await docker(s, ['image', 'prune', '-f']);
  assert.is(iprune.code, 0, iprune.stderr);
  assert.is((await docker(s, ['images', '-q', '--filter', 'dangling=true'])).stdout.trim(), '');
  const prune = await docker(s, ['builder', 'prune', '-f']);
  assert.is(prune.code, 0, prune.stderr);
  assert.match(prune.stdout, /Total reclaimed space/);
});

test('docker run -d, logs, ps and rm', async () => {
  const id = (await docker(s, ['run', '-d', '--name', 'bg', 'app:1', 'sh', '-c', 'echo into-the-log'])).stdout.trim();
  assert.match(id, /^[a-f0-9]{64}$/);
  let status = '';
  for (let i = 0; i < 100 && !/Exited/.test(status); i++) {
    await new Promise((r) => setTimeout(r, 100));
    status = (await docker(s, ['ps', '-a', '--format', '{{.Names}} {{.Status}}'])).stdout;
  }
  assert.match(status, /bg Exited \(0\)/);
  assert.is((await docker(s, ['logs', 'bg'])).stdout, 'into-the-log\n');
  assert.is((await docker(s, ['rm', 'bg'])).code, 0);
  const slow = (await docker(s, ['run', '-d', 'app:1', 'sh', '-c', 'echo first; sleep 1; echo second'])).stdout.trim();
  await new Promise((r) => setTimeout(r, 300));
  const follow = await docker(s, ['logs', '-f', slow]);
  assert.is(follow.stdout, 'first\nsecond\n', 'logs -f follows until the container exits');
  assert.is((await docker(s, ['rm', slow])).code, 0);
  assert.is((await docker(s, ['ps', '-a', '-q'])).stdout.trim(), '');
});

test('without the token the docker CLI is turned away', async () => {
  const r = await run('docker', ['images'], { env: { DOCKER_HOST: s.host, DOCKER_CONFIG: join(ctx, 'no-config') } });
  assert.is(r.code, 1);
  assert.match(r.stderr, /authentication required|401|Unauthorized/i);
});

test.run();
