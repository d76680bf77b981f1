/**
 * FIFOs and device nodes in an image are never opened by the host process: `--output type=local`, rw bind
 * mounts and cache-mount seeding (`from=`) recreate them as what they are (mknod), copy symlinks verbatim and
 * keep hard links, with no hang and no stack trace. A symlink already in the output directory is replaced, not
 * written through. Locally and, for the mounts, through `kiln serve`. An image's /etc/passwd or /etc/group that is
 * a FIFO or device (read for USER and --chown names) is refused with a clear error, never opened.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kiln } from '../../helpers/kiln-cli.js';
import { docker, startServe, type Served } from '../server/serve-helper.js';
import { plantCanary, type Canary } from './canary.js';

let work: string;
let root: string;
let ctx: string;
let canary: Canary;
let served: Served;

const DOCKERFILE = [
  'FROM busybox AS special',
  // c 1 3 is /dev/null and c 1 11 /dev/kmsg on every Linux host: what fs.cp opened before.
  'RUN mkdir -p /sp/sub /sp/over && mkfifo /sp/fifo && mknod /sp/null c 1 3 && mknod /sp/kmsg c 1 11 && echo data > /sp/file && ln /sp/file /sp/hard && ln -s /etc/passwd /sp/link && echo in > /sp/sub/x && echo image > /sp/over/victim',
  'FROM busybox',
  'RUN --mount=type=bind,from=special,source=/sp,target=/m,rw test -p /m/fifo && test -c /m/null && test -c /m/kmsg && test "$(readlink /m/link)" = /etc/passwd && test "$(cat /m/hard)" = data && echo new > /m/new',
  'RUN --mount=type=cache,target=/c,from=special,source=/sp test -p /c/fifo && test -c /c/null && test -c /c/kmsg && test "$(cat /c/sub/x)" = in',
  '',
].join('\n');

test.before(async () => {
  work = mkdtempSync(join(tmpdir(), 'kiln-hostile-special-'));
  root = join(work, 'root');
  ctx = join(work, 'ctx');
  mkdirSync(ctx);
  writeFileSync(join(ctx, 'Dockerfile'), DOCKERFILE);
  canary = await plantCanary({ extra: { victim: 'host file: must keep this content\n' } });
  const base = await kiln(['base', 'busybox'], { root });
  assert.is(base.code, 0, base.stderr);
  served = await startServe();
});

test.after(async () => {
  await served?.stop();
  await canary?.remove();
  // A build killed by the time limit (the old hang) can leave a mount here; the failure is already reported.
  try {
    rmSync(work, { recursive: true, force: true });
  } catch (err) {
    console.error(`cleanup: ${(err as Error).message}`);
  }
});

function noStack(text: string): void {
  assert.not.match(text, /\n\s+at .+:\d+:\d+\)?\n/, `no stack trace:\n${text}`);
}

test('--output type=local writes FIFOs and device nodes as such, never opening them', async () => {
  const out = join(work, 'out');
  // An earlier export left `sp/over` as a symlink to a host directory: the new tree must not write through it.
  mkdirSync(join(out, 'sp'), { recursive: true });
  symlinkSync(canary.dir, join(out, 'sp', 'over'));
  const r = await kiln(['build', '--target', 'special', '--output', `type=local,dest=${out}`, ctx], { root, env: { KILN_DAEMON: '0' }, timeoutMs: 120_000 });
  await canary.assertUntouched('local export');
  noStack(r.stderr);
  assert.is(r.code, 0, r.stderr);
  const sp = join(out, 'sp');
  assert.ok(lstatSync(join(sp, 'fifo')).isFIFO(), 'the FIFO is a FIFO');
  for (const [name, minor] of [
    ['null', 3],
    ['kmsg', 11],
  ] as const) {
    const st = lstatSync(join(sp, name));
    assert.ok(st.isCharacterDevice(), `${name} is a character device`);
    assert.is(st.rdev, (1 << 8) | minor, `${name} keeps its numbers`);
  }
  assert.is(readlinkSync(join(sp, 'link')), '/etc/passwd');
  assert.is(lstatSync(join(sp, 'file')).ino, lstatSync(join(sp, 'hard')).ino, 'hard links stay links');
  assert.ok(lstatSync(join(sp, 'over')).isDirectory(), 'the stale symlink was replaced by the directory');
  assert.is(readFileSync(join(sp, 'over', 'victim'), 'utf8'), 'image\n');
});

test('rw bind mounts and cache seeds from a stage with FIFOs and devices: local build', async () => {
  const r = await kiln(['build', '--progress', 'plain', ctx], { root, env: { KILN_DAEMON: '0' }, timeoutMs: 120_000 });
  noStack(r.stderr);
  assert.is(r.code, 0, r.stderr);
  await canary.assertUntouched('local mounts');
});

test('rw bind mounts and cache seeds from a stage with FIFOs and devices: kiln serve', async () => {
  const r = await docker(served, ['build', '-t', 'hostile-special', '.'], { cwd: ctx, timeoutMs: 120_000 });
  noStack(r.stdout + r.stderr);
  assert.is(r.code, 0, r.stderr + r.stdout);
  await canary.assertUntouched('served mounts');
});

async function buildExpectingRefusal(name: string, lines: string[], file: string): Promise<void> {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'Dockerfile'), [...lines, ''].join('\n'));
  // Before, the host's read of the FIFO blocked for good (the time limit ends it) or read /dev/zero without end.
  const r = await kiln(['build', '--progress', 'plain', dir], { root, env: { KILN_DAEMON: '0' }, timeoutMs: 60_000 });
  noStack(r.stderr);
  assert.ok(r.code !== 0 && r.code !== 130 && r.code < 128, `a failure, not a cancel or a kill (${r.code}): ${r.stderr}`);
  assert.match(r.stderr, new RegExp(`${file} in the image is not a regular file`));
}

test('USER with an image whose /etc/passwd is a FIFO: a clear error, the FIFO never opened', async () => {
  await buildExpectingRefusal('user-fifo', ['FROM busybox', 'RUN rm /etc/passwd && mkfifo /etc/passwd', 'USER nobody', 'RUN true'], '/etc/passwd');
});

test('COPY --chown with an image whose /etc/group is /dev/zero: a clear error, the device never opened', async () => {
  await buildExpectingRefusal(
    'chown-zero',
    ['FROM busybox', 'RUN rm /etc/group && mknod /etc/group c 1 5', 'COPY --chown=root:nogroup Dockerfile /x'],
    '/etc/group',
  );
});

test.run();
