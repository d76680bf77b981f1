/**
 * Remote builds from stdin, as `docker build -` takes them: a context tar (with -f naming a file inside it), a
 * bare Dockerfile, and `-f -` with a context directory; and the flags the legacy build API cannot carry
 * (--secret, --output) refused before anything is sent.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServe, type Served } from './serve-helper.js';
import { kiln } from '../../helpers/kiln-cli.js';

let s: Served;
let dir: string;
let ctx: string;
const remote = (args: string[], input?: string | Buffer) => kiln(['--root', join(dir, 'client'), ...args], { input, env: { KILN_HOST: s.host } });

test.before(async () => {
  s = await startServe();
  dir = mkdtempSync(join(tmpdir(), 'kiln-remote-stdin-'));
  ctx = join(dir, 'ctx');
  mkdirSync(join(ctx, 'sub'), { recursive: true });
  writeFileSync(join(ctx, 'data.txt'), 'from the tar\n');
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\nCOPY data.txt /data.txt\nCMD ["cat", "/data.txt"]\n');
  writeFileSync(join(ctx, 'sub', 'Other.dockerfile'), 'FROM busybox\nCOPY data.txt /other.txt\nRUN cat /other.txt\n');
});

test.after(async () => {
  await s?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const tarOf = (d: string, gzip = false) => execFileSync('tar', ['-C', d, gzip ? '-cz' : '-c', '.']);

async function fileIn(image: string, path: string): Promise<string> {
  const r = await kiln(['run', '--rm', '--pull=never', '--network', 'none', image, 'cat', path], { root: s.root });
  assert.is(r.code, 0, r.stderr);
  return r.stdout;
}

test('kiln --host build - sends a context tar from stdin; -f names a Dockerfile inside it', async () => {
  let r = await remote(['build', '--progress', 'plain', '-t', 'stdin-tar:1', '-'], tarOf(ctx));
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout.trim(), /^sha256:[a-f0-9]{64}$/);
  assert.is(await fileIn('stdin-tar:1', '/data.txt'), 'from the tar\n');
  r = await remote(['build', '--progress', 'plain', '-t', 'stdin-tar:2', '-f', 'sub/Other.dockerfile', '-'], tarOf(ctx, true));
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, 'from the tar');
  assert.is(await fileIn('stdin-tar:2', '/other.txt'), 'from the tar\n');
});

test('kiln --host build - with a bare Dockerfile on stdin builds without a context', async () => {
  const r = await remote(['build', '--progress', 'plain', '-t', 'stdin-df:1', '-'], 'FROM busybox\nRUN echo built-from-stdin > /marker\n');
  assert.is(r.code, 0, r.stderr);
  assert.is(await fileIn('stdin-df:1', '/marker'), 'built-from-stdin\n');
  const copy = await remote(['build', '-'], 'FROM busybox\nCOPY data.txt /x\n');
  assert.is.not(copy.code, 0, 'no context: COPY has nothing to copy');
  assert.match(copy.stderr, /data\.txt/);
});

test('kiln --host build -f - reads the Dockerfile from stdin with the context directory', async () => {
  const r = await remote(['build', '--progress', 'plain', '-t', 'stdin-f:1', '-f', '-', ctx], 'FROM busybox\nCOPY data.txt /via-f.txt\n');
  assert.is(r.code, 0, r.stderr);
  assert.is(await fileIn('stdin-f:1', '/via-f.txt'), 'from the tar\n');
});

test('--secret and --output are refused with --host, with a hint, before anything is built', async () => {
  writeFileSync(join(dir, 'tok'), 's3cret\n');
  const sec = await remote(['build', '--secret', `id=tok,src=${join(dir, 'tok')}`, '-t', 'never-built:1', ctx]);
  assert.is.not(sec.code, 0);
  assert.match(sec.stderr, /--secret is not supported with --host/);
  assert.match(sec.stderr, /build locally/);
  assert.not.match(sec.stderr, 's3cret');
  const out = await remote(['build', '--output', `type=local,dest=${join(dir, 'out')}`, '-t', 'never-built:1', ctx]);
  assert.is.not(out.code, 0);
  assert.match(out.stderr, /--output is not supported with --host/);
  assert.match(out.stderr, /push it from the server/);
  const both = await remote(['build', '-f', '-', '-'], 'FROM busybox\n');
  assert.is.not(both.code, 0);
  assert.match(both.stderr, /cannot both come from stdin/);
  const imgs = await kiln(['images', '-q', 'never-built'], { root: s.root });
  assert.is(imgs.stdout.trim(), '');
});

test.run();
