/**
 * Hostile paths and the errors they cause: a WORKDIR too deep to exist fails fast naming its line (locally and
 * through `kiln serve`, where the server's core must be free soon after its client left); a deep legal path can be
 * cancelled; `WORKDIR /link/new` creates the link's target inside the rootfs, never on the host; a full disk
 * (a small tmpfs as kiln's root) during COPY, RUN, load and unpack, a corrupt layer and a missing bind source give
 * coded errors with the right exit code, no stack, no "cancelled" and no half-written image.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kiln, REPO, type CliResult } from '../../helpers/kiln-cli.js';
import { startServe } from '../server/serve-helper.js';

let dir = '';
let root = '';
/** Host canaries: a directory and a file outside every root and context, checked untouched after each attack. */
let canaryDir = '';
let canaryFile = '';
let ctxN = 0;

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-hostile-paths-'));
  root = join(dir, 'root');
  const host = mkdtempSync(join(tmpdir(), 'kiln-hostile-canary-'));
  canaryDir = join(host, 'dir');
  mkdirSync(canaryDir);
  canaryFile = join(host, 'file');
  writeFileSync(canaryFile, 'canary\n');
  const r = await kiln(['base', 'busybox'], { root });
  assert.is(r.code, 0, r.stderr);
});

test.after(() => {
  for (const m of mounted.splice(0)) execFileSync('umount', ['-l', m]);
  rmSync(dir, { recursive: true, force: true });
  rmSync(join(canaryDir, '..'), { recursive: true, force: true });
});

function context(dockerfile: string, files: Record<string, string | Buffer> = {}): string {
  const ctx = join(dir, `ctx-${++ctxN}`);
  mkdirSync(ctx);
  writeFileSync(join(ctx, 'Dockerfile'), dockerfile);
  for (const [p, c] of Object.entries(files)) writeFileSync(join(ctx, p), c);
  return ctx;
}

function canariesUntouched(): void {
  assert.equal(readdirSync(canaryDir), [], 'nothing was created in the host canary dir');
  assert.is(readFileSync(canaryFile, 'utf8'), 'canary\n', 'the host canary file is unchanged');
}

/** A user-facing failure: the expected exit code, a coded message, no stack trace, never "cancelled". */
function cleanFailure(r: CliResult, exit: number, message: RegExp): void {
  assert.is(r.code, exit, `exit ${r.code}\n${r.stderr.slice(-2000)}`);
  assert.match(r.stderr, message, r.stderr.slice(-2000));
  assert.not.match(r.stderr, /\n\s+at .+:\d+:\d+\)?\n/, `no stack trace:\n${r.stderr.slice(-2000)}`);
  assert.not.match(r.stderr, /internal error|AbortError|cancelled|\[undefined\]/i, r.stderr.slice(-2000));
}

const mounted: string[] = [];
/** A fresh kiln root on a tmpfs of `mb` MiB, with the busybox base (about 1.1 MiB). Unmounted in test.after. */
async function smallRoot(mb: number): Promise<string> {
  const m = join(dir, `small-${mounted.length}`);
  mkdirSync(m);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mb}m`, 'tmpfs', m]);
  mounted.push(m);
  const r = await kiln(['base', 'busybox'], { root: join(m, 'root') });
  assert.is(r.code, 0, r.stderr);
  return join(m, 'root');
}

async function imagesOf(r: string): Promise<string[]> {
  const out = await kiln(['images', '--format', 'json'], { root: r });
  assert.is(out.code, 0, out.stderr);
  return out.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const i = JSON.parse(l);
      return `${i.Repository}:${i.Tag}`;
    })
    .sort();
}

test('WORKDIR with 30,000 components fails fast with PATH_TOO_LONG naming its line', async () => {
  const ctx = context(`FROM busybox\nWORKDIR ${'/a'.repeat(30_000)}\nRUN true\n`);
  const t0 = Date.now();
  const r = await kiln(['build', '--progress', 'plain', ctx], { root, timeoutMs: 30_000 });
  const ms = Date.now() - t0;
  cleanFailure(r, 2, /Dockerfile:2: WORKDIR .* is 60000 bytes long; the limit is 4095/);
  assert.ok(ms < 10_000, `took ${ms} ms`);
  canariesUntouched();
});

test('a deep legal WORKDIR is made quickly and a build past it is cancelled by SIGTERM', async () => {
  const ctx = context(`FROM busybox\nWORKDIR ${'/d'.repeat(1500)}\nRUN echo started && sleep 60\n`);
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/dev.ts', '--root', root, 'build', '--no-cache', '--progress', 'plain', ctx], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  const t0 = Date.now();
  while (!err.includes('started') && Date.now() - t0 < 30_000 && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
  assert.ok(err.includes('started'), `the deep WORKDIR was made and the RUN began within 30 s:\n${err.slice(-1500)}`);
  const killed = Date.now();
  child.kill('SIGTERM');
  const code = await exited;
  assert.ok(Date.now() - killed < 10_000, `exited ${Date.now() - killed} ms after SIGTERM`);
  assert.is(code, 130, err.slice(-1500));
});

test('WORKDIR through a symlink creates the target inside the rootfs, never on the host', async () => {
  const ctx = context(
    `FROM busybox\nRUN ln -s ${canaryDir}/made /link\nWORKDIR /link/new\nRUN test -d /link/new && test -d ${canaryDir}/made/new && test "$(pwd -P)" = ${canaryDir}/made/new && echo inside-ok\n`,
  );
  const r = await kiln(['build', '--progress', 'plain', ctx], { root });
  assert.is(r.code, 0, r.stderr.slice(-2000));
  assert.match(r.stderr, /inside-ok/);
  canariesUntouched();
});

test('a name longer than NAME_MAX (COPY destination, WORKDIR) is PATH_TOO_LONG naming the line', async () => {
  const long = 'x'.repeat(300);
  const copy = await kiln(['build', '--progress', 'plain', context(`FROM busybox\nCOPY Dockerfile /${long}/f\n`)], { root });
  cleanFailure(copy, 2, /Dockerfile:2: .*a component is longer than 255 bytes/);
  const wd = await kiln(['build', '--progress', 'plain', context(`FROM busybox\nWORKDIR /${long}\n`)], { root });
  cleanFailure(wd, 2, /Dockerfile:2: WORKDIR .*a component is longer than 255 bytes/);
  assert.not.match(copy.stderr + wd.stderr, new RegExp(root), 'no internal path in the message');
});

test('a missing bind-mount source (rw and from= a stage) is a not-found error naming the line', async () => {
  const r = await kiln(['build', '--progress', 'plain', context('FROM busybox\nRUN --mount=type=bind,source=nope,target=/m,rw true\n')], { root });
  cleanFailure(r, 3, /Dockerfile:2: .*"?\/?nope"?.* not found/);
  const r2 = await kiln(['build', '--progress', 'plain', context('FROM busybox\nRUN --mount=type=bind,from=busybox,source=/nope,target=/m,rw true\n')], {
    root,
  });
  cleanFailure(r2, 3, /Dockerfile:2: RUN --mount=type=bind: source "\/nope" not found in busybox/);
  assert.not.match(r2.stderr, new RegExp(root), 'no internal path in the message');
});

test('${…} nested 5,000 deep is a parse error naming the line, not a crash or "cancelled"', async () => {
  const nested = `${'${Y:-'.repeat(5000)}x${'}'.repeat(5000)}`;
  const r = await kiln(['build', '--progress', 'plain', context(`FROM busybox\nARG Y\nENV X=${nested}\n`)], { root });
  cleanFailure(r, 2, /Dockerfile:3: .*nested more than 100 deep/);
  const o = await kiln(['outline', context(`FROM busybox\nARG Y\nENV X=${nested}\n`)], { root });
  cleanFailure(o, 2, /Dockerfile:3: .*nested more than 100 deep/);
});

test('ENOSPC during COPY and during a RUN layer commit: NO_SPACE (exit 6) naming the step, no image', async () => {
  const small = await smallRoot(6);
  const before = await imagesOf(small);
  const big = Buffer.alloc(8 << 20, 7);
  const copy = await kiln(['build', '-t', 'full:copy', '--progress', 'plain', context('FROM busybox\nCOPY big /big\n', { big })], { root: small });
  cleanFailure(copy, 6, /Dockerfile:2: copy to \/big: no space left on device/);
  assert.not.match(copy.stderr, new RegExp(small), 'no internal path in the message');
  const run = await kiln(['build', '-t', 'full:run', '--progress', 'plain', context('FROM busybox\nRUN head -c 1900000 /dev/urandom > /big\n')], {
    root: small,
  });
  cleanFailure(run, 6, /Dockerfile:2: .*no space left on device/);
  // Two stages at once: the one that hits ENOSPC is the story, not "cancelled" from the stage it stopped.
  const par = await kiln(
    [
      'build',
      '-t',
      'full:par',
      '--progress',
      'plain',
      context('FROM busybox AS slow\nRUN sleep 5\nFROM busybox AS fat\nCOPY big /big\nFROM busybox\nCOPY --from=slow /bin/sh /a\nCOPY --from=fat /big /b\n', {
        big,
      }),
    ],
    { root: small },
  );
  cleanFailure(par, 6, /Dockerfile:4: copy to \/big: no space left on device/);
  assert.equal(await imagesOf(small), before, 'no half-written image');
});

test('ENOSPC during load and unpack: NO_SPACE (exit 6), no stack, nothing tagged; a corrupt layer is ARCHIVE_INVALID', async () => {
  // Archives made on the roomy root: a 7 MB random layer (does not fit when loaded) and a 7 MB zero layer that
  // compresses to 30 KB (loads, but cannot be unpacked).
  const rand = await kiln(['build', '-q', '-t', 'rand:1', context('FROM busybox\nRUN head -c 7000000 /dev/urandom > /r\n')], { root });
  assert.is(rand.code, 0, rand.stderr);
  const zero = await kiln(['build', '-q', '-t', 'zero:1', context('FROM busybox\nRUN head -c 7000000 /dev/zero > /z\n')], { root });
  assert.is(zero.code, 0, zero.stderr);
  const randTar = join(dir, 'rand.tar');
  const zeroTar = join(dir, 'zero-oci.tar');
  assert.is((await kiln(['save', '-o', randTar, 'rand:1'], { root })).code, 0);
  assert.is((await kiln(['save', '--format', 'oci', '-o', zeroTar, 'zero:1'], { root })).code, 0);

  const small = await smallRoot(6);
  const load = await kiln(['load', '-i', randTar], { root: small, timeoutMs: 60_000 });
  cleanFailure(load, 6, /no space left on device/);
  assert.equal(await imagesOf(small), ['busybox:latest'], 'nothing tagged');

  assert.is((await kiln(['load', '-i', zeroTar], { root: small })).code, 0);
  const run = await kiln(['run', '--rm', 'zero:1', 'true'], { root: small });
  cleanFailure(run, 6, /no space left on device/);
  const build = await kiln(['build', '--progress', 'plain', context('FROM zero:1\nRUN true\n')], { root: small });
  cleanFailure(build, 6, /Dockerfile:2: .*no space left on device/);

  // A corrupt layer: a fresh root with the zero image (no snapshot yet), one byte range of its layer blob flipped.
  const third = join(dir, 'corrupt-root');
  assert.is((await kiln(['load', '-i', randTar], { root: third })).code, 0);
  const oci = join(third, 'oci');
  const index = JSON.parse(readFileSync(join(oci, 'index.json'), 'utf8'));
  const manifest = JSON.parse(readFileSync(join(oci, 'blobs/sha256', index.manifests.at(-1).digest.slice(7)), 'utf8'));
  const layer = join(oci, 'blobs/sha256', manifest.layers.at(-1).digest.slice(7));
  chmodSync(layer, 0o644);
  const bytes = readFileSync(layer);
  bytes.fill(0x41, 0, 512); // the first tar header
  writeFileSync(layer, bytes);
  const bad = await kiln(['run', '--rm', 'rand:1', 'true'], { root: third });
  cleanFailure(bad, 2, /bad tar header checksum|corrupt/);
  const badBuild = await kiln(['build', '--progress', 'plain', context('FROM rand:1\nRUN true\n')], { root: third });
  cleanFailure(badBuild, 2, /Dockerfile:2: .*(bad tar header checksum|corrupt)/);
  assert.ok(existsSync(canaryFile));
  canariesUntouched();
});

/** CPU seconds (user + system) a process has used, from /proc/PID/stat. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

test('kiln serve: a 30,000-component WORKDIR fails fast; a deep build whose client left frees the core', async () => {
  const s = await startServe();
  try {
    const deep = context(`FROM busybox\nWORKDIR ${'/a'.repeat(30_000)}\n`);
    const t0 = Date.now();
    const env = { DOCKER_HOST: s.host, DOCKER_BUILDKIT: '0', DOCKER_CONFIG: s.dockerConfig };
    const tooLong = await new Promise<CliResult>((resolve) => {
      const c = spawn('docker', ['build', '.'], { cwd: deep, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      c.stdout.on('data', (d) => (out += d));
      c.stderr.on('data', (d) => (out += d));
      c.on('close', (code) => resolve({ code: code ?? 1, stdout: out, stderr: out }));
    });
    assert.ok(Date.now() - t0 < 15_000, `took ${Date.now() - t0} ms`);
    assert.is.not(tooLong.code, 0);
    assert.match(tooLong.stderr, /WORKDIR .* is 60000 bytes long; the limit is 4095/);

    const ctx = context(`FROM busybox\nWORKDIR ${'/d'.repeat(1500)}\nRUN echo started; sleep 60\n`);
    const c = spawn('docker', ['build', '--no-cache', '.'], { cwd: ctx, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (out += d));
    const closed = new Promise((r) => c.on('close', r));
    const started = Date.now();
    // The client leaves two seconds in, whatever the server is doing then.
    await new Promise((r) => setTimeout(r, 2000));
    c.kill('SIGKILL');
    await closed;
    await new Promise((r) => setTimeout(r, 1000));
    const a = cpuSeconds(s.proc.pid!);
    await new Promise((r) => setTimeout(r, 3000));
    const used = cpuSeconds(s.proc.pid!) - a;
    assert.ok(used < 1, `the server used ${used} CPU s in the 3 s after its client left (${Date.now() - started} ms in)`);
  } finally {
    await s.stop();
  }
  canariesUntouched();
});

test.run();
