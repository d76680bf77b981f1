/**
 * The container file-system operations through `kiln serve` with the real docker CLI: `docker diff` after a
 * container adds, changes and deletes files; `docker cp` out (a file, a directory, `dir/.`) and in (a file, a
 * directory, a tar on stdin) on running and stopped containers; `docker commit` then running the new image;
 * `docker export`. Hostile cases: a container symlink to a host canary is never read or written through, and
 * uploaded tar members climbing out (`../`, a symlink then a file through it) stay inside the container.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServe, docker, type Served } from './serve-helper.js';
import { packTar } from '../../../src/tar/writer.js';
import { kiln } from '../../helpers/kiln-cli.js';

let s: Served;
let work = '';
let canaryDir = '';
let canary = '';
const containers: string[] = [];
const images: string[] = [];

test.before(async () => {
  work = mkdtempSync(join(tmpdir(), 'kiln-cp-work-'));
  canaryDir = mkdtempSync(join(tmpdir(), 'kiln-cp-canary-'));
  canary = join(canaryDir, 'canary');
  writeFileSync(canary, 'HOST SECRET\n');
  s = await startServe();
});

test.after(async () => {
  for (const id of containers) await docker(s, ['rm', '-f', id]);
  for (const i of images) await docker(s, ['rmi', '-f', i]);
  await s?.stop();
  rmSync(work, { recursive: true, force: true });
  rmSync(canaryDir, { recursive: true, force: true });
});

async function ok(args: string[], input?: string) {
  const r = await docker(s, args, { input, timeoutMs: 120_000 });
  assert.is(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}\n${s.logs().slice(-2000)}`);
  return r;
}

/** A running container (sleeping) that first ran `setup`; waits until `marker` exists in it. */
async function runDetached(name: string, setup: string, runArgs: string[] = []): Promise<void> {
  await ok(['run', '-d', '--name', name, ...runArgs, 'busybox', 'sh', '-c', `${setup} && touch /tmp/ready && sleep 600`]);
  containers.push(name);
  for (let i = 0; i < 200; i++) {
    if ((await docker(s, ['exec', name, 'test', '-e', '/tmp/ready'])).code === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} did not get ready`);
}

/** A stopped container that ran `script` to completion. */
async function runStopped(name: string, script: string): Promise<void> {
  await ok(['run', '--name', name, 'busybox', 'sh', '-c', script]);
  containers.push(name);
}

function tarList(file: string): string[] {
  return execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).split('\n').filter(Boolean);
}

test('docker diff lists added, changed and deleted files (running and stopped), without runtime mount points', async () => {
  const script = 'echo hi > /added.txt && echo x >> /etc/passwd && rm /etc/nsswitch.conf && mkdir /newdir && echo y > /newdir/f';
  await runDetached('fs-diff-run', script);
  await runStopped('fs-diff-stopped', script);
  for (const c of ['fs-diff-run', 'fs-diff-stopped']) {
    const lines = (await ok(['diff', c])).stdout.trim().split('\n');
    for (const want of ['A /added.txt', 'C /etc', 'C /etc/passwd', 'D /etc/nsswitch.conf', 'A /newdir', 'A /newdir/f']) {
      assert.ok(lines.includes(want), `${c}: ${want} in ${JSON.stringify(lines)}`);
    }
    assert.not.ok(
      lines.some((l) => /\/(proc|sys|dev|etc\/hosts|etc\/hostname|etc\/resolv\.conf)$/.test(l)),
      `${c}: no runtime mount point: ${JSON.stringify(lines)}`,
    );
  }
});

test('docker cp out: a file, a directory and dir/. from running and stopped containers', async () => {
  const script = 'mkdir -p /data/sub && echo one > /data/a.txt && echo two > /data/sub/b.txt';
  await runDetached('fs-cp-run', script);
  await runStopped('fs-cp-stopped', script);
  for (const c of ['fs-cp-run', 'fs-cp-stopped']) {
    const out = join(work, `out-${c}`);
    mkdirSync(out);
    await ok(['cp', `${c}:/data/a.txt`, join(out, 'a.txt')]);
    assert.is(readFileSync(join(out, 'a.txt'), 'utf8'), 'one\n');
    await ok(['cp', `${c}:/data`, join(out, 'dir')]);
    assert.is(readFileSync(join(out, 'dir', 'sub', 'b.txt'), 'utf8'), 'two\n');
    mkdirSync(join(out, 'contents'));
    await ok(['cp', `${c}:/data/.`, join(out, 'contents')]);
    assert.is(readFileSync(join(out, 'contents', 'a.txt'), 'utf8'), 'one\n');
    assert.ok(existsSync(join(out, 'contents', 'sub', 'b.txt')));
    const missing = await docker(s, ['cp', `${c}:/nope`, join(out, 'nope')]);
    assert.is.not(missing.code, 0);
    assert.match(missing.stderr, /No such container:path|Could not find/);
  }
});

test('docker cp in: a file, a directory and a tar on stdin, into running and stopped containers', async () => {
  await runDetached('fs-in-run', 'mkdir /dst');
  await runStopped('fs-in-stopped', 'mkdir /dst');
  writeFileSync(join(work, 'in.txt'), 'uploaded\n');
  mkdirSync(join(work, 'indir', 'deep'), { recursive: true });
  writeFileSync(join(work, 'indir', 'deep', 'c.txt'), 'deep file\n');
  mkdirSync(join(work, 'tarsrc'));
  writeFileSync(join(work, 'tarsrc', 'from-stdin.txt'), 'via stdin\n');
  const tarFile = join(work, 'in.tar');
  execFileSync('tar', ['-cf', tarFile, '-C', join(work, 'tarsrc'), 'from-stdin.txt']);
  for (const c of ['fs-in-run', 'fs-in-stopped']) {
    await ok(['cp', join(work, 'in.txt'), `${c}:/dst/in.txt`]);
    await ok(['cp', join(work, 'indir'), `${c}:/dst/`]);
    const r = await docker(s, ['cp', '-', `${c}:/dst`], { input: readFileSync(tarFile, 'latin1') });
    assert.is(r.code, 0, r.stderr);
    // Read back through the API (cp out), so the stopped container is checked the same way.
    const back = join(work, `back-${c}`);
    await ok(['cp', `${c}:/dst`, back]);
    assert.is(readFileSync(join(back, 'in.txt'), 'utf8'), 'uploaded\n');
    assert.is(readFileSync(join(back, 'indir', 'deep', 'c.txt'), 'utf8'), 'deep file\n');
    assert.is(readFileSync(join(back, 'from-stdin.txt'), 'utf8'), 'via stdin\n');
  }
  // The running container sees the files at once.
  assert.is((await ok(['exec', 'fs-in-run', 'cat', '/dst/in.txt'])).stdout, 'uploaded\n');
});

test('concurrent docker cp on one container share one freeze (running) or one mount (stopped), and release it', async () => {
  await runDetached('fs-many-run', 'echo many > /m.txt');
  await runStopped('fs-many-stopped', 'echo many > /m.txt');
  for (const c of ['fs-many-run', 'fs-many-stopped']) {
    const all = await Promise.all(Array.from({ length: 4 }, () => docker(s, ['cp', `${c}:/m.txt`, '-'])));
    for (const r of all) {
      assert.is(r.code, 0, r.stderr);
      assert.ok(r.stdout.includes('many'));
    }
  }
  assert.is((await ok(['exec', 'fs-many-run', 'echo', 'thawed'])).stdout, 'thawed\n');
  const id = (await ok(['inspect', '-f', '{{.Id}}', 'fs-many-stopped'])).stdout.trim();
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
  assert.not.ok(mounts.includes(join(s.root, 'containers', id)), 'no mount left behind');
});

test('docker commit makes an image with the container changes and the --change CMD; it runs', async () => {
  await runStopped('fs-commit', 'echo committed > /hello.txt && rm /etc/nsswitch.conf');
  const r = await ok(['commit', '-c', 'CMD ["cat", "/hello.txt"]', '-c', 'ENV FROM_COMMIT=yes', '-m', 'a message', 'fs-commit', 'kiln-commit-test:v1']);
  images.push('kiln-commit-test:v1');
  assert.match(r.stdout.trim(), /^sha256:[0-9a-f]{64}$/);
  const run = await ok(['run', '--rm', 'kiln-commit-test:v1']);
  assert.is(run.stdout, 'committed\n');
  const gone = await docker(s, [
    'run',
    '--rm',
    'kiln-commit-test:v1',
    'sh',
    '-c',
    'test -e /etc/nsswitch.conf && echo present || echo deleted; echo $FROM_COMMIT',
  ]);
  assert.is(gone.stdout, 'deleted\nyes\n', gone.stderr);
  const hist = await ok(['history', '--no-trunc', '--format', '{{.Comment}}', 'kiln-commit-test:v1']);
  assert.ok(hist.stdout.split('\n').includes('a message'), hist.stdout);
  // A running container is paused for the commit and keeps running after.
  await runDetached('fs-commit-run', 'echo live > /live.txt');
  await ok(['commit', 'fs-commit-run', 'kiln-commit-test:live']);
  images.push('kiln-commit-test:live');
  assert.is((await ok(['run', '--rm', 'kiln-commit-test:live', 'cat', '/live.txt'])).stdout, 'live\n');
  assert.is((await ok(['exec', 'fs-commit-run', 'echo', 'still running'])).stdout, 'still running\n');
});

test('docker cp of a directory holding a volume copies the volume files at its mount point (running and stopped)', async () => {
  await runDetached('fs-vol-below', 'echo top > /srv/top.txt && echo in-vol > /srv/data/in-vol.txt', ['-v', 'kiln-cp-test-vol2:/srv/data']);
  for (const phase of ['running', 'stopped']) {
    const out = join(work, `below-${phase}`);
    await ok(['cp', 'fs-vol-below:/srv', out]);
    assert.is(readFileSync(join(out, 'top.txt'), 'utf8'), 'top\n', phase);
    assert.is(readFileSync(join(out, 'data', 'in-vol.txt'), 'utf8'), 'in-vol\n', phase);
    if (phase === 'running') await ok(['stop', '-t', '1', 'fs-vol-below']);
  }
  await docker(s, ['rm', '-f', 'fs-vol-below']);
  await docker(s, ['volume', 'rm', 'kiln-cp-test-vol2']);
});

test('docker cp -a gives the files the container user; without it the archive owner', async () => {
  await runDetached('fs-uid', 'true', ['-u', 'kiln']);
  writeFileSync(join(work, 'owned.txt'), 'o\n');
  await ok(['cp', '-a', join(work, 'owned.txt'), 'fs-uid:/tmp/a.txt']);
  await ok(['cp', join(work, 'owned.txt'), 'fs-uid:/tmp/plain.txt']);
  assert.is((await ok(['exec', 'fs-uid', 'stat', '-c', '%u:%g', '/tmp/a.txt'])).stdout.trim(), '1000:1000');
  assert.is((await ok(['exec', 'fs-uid', 'stat', '-c', '%u', '/tmp/plain.txt'])).stdout.trim(), String(process.getuid!()));
});

test('kiln commit and kiln export on the same store', async () => {
  await runStopped('fs-kiln-cli', 'echo from-cli > /cli.txt');
  const c = await kiln(['commit', '-c', 'CMD ["cat", "/cli.txt"]', '-m', 'cli', 'fs-kiln-cli', 'kiln-cli-commit:1'], { root: s.root });
  assert.is(c.code, 0, c.stderr);
  assert.match(c.stdout.trim(), /^sha256:[0-9a-f]{64}$/);
  images.push('kiln-cli-commit:1');
  assert.is((await ok(['run', '--rm', 'kiln-cli-commit:1'])).stdout, 'from-cli\n');
  const file = join(work, 'cli-export.tar');
  const e = await kiln(['export', 'fs-kiln-cli', '-o', file], { root: s.root });
  assert.is(e.code, 0, e.stderr);
  assert.ok(tarList(file).some((n) => n.replace(/^\.?\/?/, '') === 'cli.txt'));
  const bad = await kiln(['commit', '-c', 'FROM x', 'fs-kiln-cli'], { root: s.root });
  assert.is.not(bad.code, 0);
  assert.match(bad.stderr, /FROM cannot be used with --change/);
});

test('docker export writes the whole filesystem as a tar', async () => {
  await runStopped('fs-export', 'echo exported > /exported.txt');
  const file = join(work, 'export.tar');
  await ok(['export', '-o', file, 'fs-export']);
  const names = tarList(file);
  for (const want of ['exported.txt', 'bin/busybox', 'etc/passwd'])
    assert.ok(
      names.some((n) => n.replace(/^\.?\/?/, '') === want),
      `${want} in export`,
    );
});

test('hostile: a container symlink to a host canary is never read or written through docker cp (running and stopped)', async () => {
  const links = `ln -s ${canary} /etc/x && ln -s ${canaryDir} /etc/d`;
  await runStopped('fs-evil', links);
  await runDetached('fs-evil-run', links);
  writeFileSync(join(work, 'payload'), 'PAYLOAD\n');
  for (const c of ['fs-evil', 'fs-evil-run']) {
    const out = join(work, `evil-out-${c}`);
    mkdirSync(out);
    // Out: the link itself (as Docker copies it), never the host file's content.
    const r = await docker(s, ['cp', `${c}:/etc/x`, '-']);
    assert.is(r.code, 0, r.stderr);
    assert.not.match(r.stdout, /HOST SECRET/);
    assert.match(r.stdout, new RegExp(canary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'the tar holds the link');
    const follow = await docker(s, ['cp', '-L', `${c}:/etc/x`, join(out, 'x')]);
    assert.is.not(follow.code, 0, 'the link leads nowhere inside the container');
    assert.not.ok(existsSync(join(out, 'x')));
    const dirOut = await docker(s, ['cp', `${c}:/etc/d/canary`, join(out, 'c')]);
    assert.is.not(dirOut.code, 0);
    assert.not.ok(existsSync(join(out, 'c')));
    // In: writing to the link writes inside the container, at the path the link names there (missing: refused).
    await docker(s, ['cp', join(work, 'payload'), `${c}:/etc/x`]);
    await docker(s, ['cp', join(work, 'payload'), `${c}:/etc/d/`]);
    assert.is(readFileSync(canary, 'utf8'), 'HOST SECRET\n');
    assert.not.ok(existsSync(join(canaryDir, 'payload')));
  }
  // Inside the running container the host path does not exist.
  assert.is.not((await docker(s, ['exec', 'fs-evil-run', 'cat', canary])).code, 0);
});

test('docker cp reaches into a named volume (running and stopped); export of a running container', async () => {
  await runDetached('fs-vol', 'echo invol > /vol/v.txt && ln -s /vol/v.txt /vlink', ['-v', 'kiln-cp-test-vol:/vol']);
  assert.is((await ok(['cp', 'fs-vol:/vol/v.txt', '-'])).stdout.includes('invol'), true);
  assert.ok((await ok(['cp', '-L', 'fs-vol:/vlink', '-'])).stdout.includes('invol'), 'a rootfs symlink into the volume');
  writeFileSync(join(work, 'tovol.txt'), 'to the volume\n');
  await ok(['cp', join(work, 'tovol.txt'), 'fs-vol:/vol/']);
  assert.is((await ok(['exec', 'fs-vol', 'cat', '/vol/tovol.txt'])).stdout, 'to the volume\n');
  const file = join(work, 'export-running.tar');
  await ok(['export', '-o', file, 'fs-vol']);
  const names = tarList(file).map((n) => n.replace(/^\.?\/?/, ''));
  assert.ok(names.includes('vlink') && names.includes('bin/busybox'), 'export lists the files');
  assert.not.ok(names.includes('vol/v.txt'), 'volumes are not exported');
  await ok(['stop', '-t', '1', 'fs-vol']);
  await ok(['cp', join(work, 'tovol.txt'), 'fs-vol:/vol/again.txt']);
  assert.is((await ok(['cp', 'fs-vol:/vol/again.txt', '-'])).stdout.includes('to the volume'), true);
  await docker(s, ['rm', '-f', 'fs-vol']);
  await docker(s, ['volume', 'rm', 'kiln-cp-test-vol']);
});

async function tarBuffer(entries: Parameters<typeof packTar>[0]): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of packTar(entries)) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('latin1');
}

test('hostile: uploaded tar members with ../ or through a symlink stay inside the container', async () => {
  await runStopped('fs-evil-tar', 'mkdir /up');
  const base = { mode: 0o644, uid: 0, gid: 0, mtime: 0 };
  const climb = await tarBuffer([{ ...base, name: '../../../../../../..' + canary, type: 'file', size: 6, data: Buffer.from('PWNED\n') }]);
  const r1 = await docker(s, ['cp', '-', 'fs-evil-tar:/up'], { input: climb });
  assert.is.not(r1.code, 0, 'a member climbing out is refused');
  const through = await tarBuffer([
    { ...base, name: 'l', type: 'symlink', size: 0, linkname: canaryDir },
    { ...base, name: 'l/canary', type: 'file', size: 6, data: Buffer.from('PWNED\n') },
    { ...base, name: 'up2', type: 'symlink', size: 0, linkname: '../../../../../..' },
    { ...base, name: `up2${canaryDir}/written`, type: 'file', size: 6, data: Buffer.from('PWNED\n') },
  ]);
  await docker(s, ['cp', '-', 'fs-evil-tar:/up'], { input: through });
  assert.is(readFileSync(canary, 'utf8'), 'HOST SECRET\n');
  assert.not.ok(existsSync(join(canaryDir, 'written')));
  // What was written landed in the container.
  const inside = await docker(s, ['cp', `fs-evil-tar:/up/l/canary`, '-']);
  if (inside.code === 0) assert.not.match(inside.stdout, /HOST SECRET/);
});

test.run();
