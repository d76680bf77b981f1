// Hostile ADD archives (root: chown, security.* and trusted.* xattrs, runc). ADD of a local archive goes through
// the layer unpacker and kiln's own tar reader: binary xattrs must survive byte for byte, overlayfs's own
// `trusted.overlay.*` must never be applied (an opaque marker would hide the base image's directory), a `./`
// entry must not re-own the existing destination, and no entry, symlink or hardlink may reach a host file.
// Every attack runs against canaries planted in a fresh temp dir outside every root and context.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { addFiles } from '../../../src/builder/fileops/add.js';
import { getXattrs, setXattr } from '../../../src/native/fsx.js';
import { packTar, type TarInput } from '../../../src/tar/writer.js';
import { rejects } from '../../helpers/assert.js';
import { cleanup, tempDir } from '../../unit/fileops/fixtures.js';
import { createHarness, type Harness } from '../builder/harness.js';
import { docker, startServe } from '../server/serve-helper.js';

/** security.capability v2 with the effective flag: cap_chown, cap_net_raw, cap_audit_control, cap_setfcap and
 * caps 32-39, so the value holds bytes 0xc0 and 0xff that a latin1/UTF-8 round trip turns into 0xfd. */
const CAP = Buffer.from('01000002' + '012000c0' + '00000000' + 'ff000000' + '00000000', 'hex');
/** Every high byte once, and a NUL, '=' and '\n' (PAX record syntax) inside the value. */
const HIGH = Buffer.concat([Buffer.from([0, 0x3d, 0x0a]), Buffer.from(Array.from({ length: 128 }, (_, i) => 0x80 + i))]);

interface Canary {
  dir: string;
  file: string;
  /** Throws unless the canary dir holds only the untouched, unread canary file. */
  check(label: string): void;
}

/** A host directory with one secret file, times set in the past so that a read would move the atime (relatime). */
function plantCanary(): Canary {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-canary-'));
  const file = join(dir, 'secret');
  const secret = `canary-${process.pid}-${Math.random().toString(36).slice(2)}`;
  writeFileSync(file, secret, { mode: 0o600 });
  utimesSync(file, 1_000_000, 1_000_000);
  utimesSync(dir, 1_000_000, 1_000_000);
  const before = statSync(file);
  return {
    dir,
    file,
    check(label) {
      assert.equal(readdirSync(dir), ['secret'], `${label}: nothing was added to the host canary dir`);
      const st = statSync(file);
      assert.is(st.atimeMs, before.atimeMs, `${label}: the canary was not read`);
      assert.is(st.mtimeMs, before.mtimeMs, `${label}: the canary was not written`);
      assert.is(st.nlink, 1, `${label}: the canary was not hardlinked`);
      assert.is(st.mode, before.mode);
      assert.is(`${st.uid}:${st.gid}`, `${before.uid}:${before.gid}`);
      assert.is(statSync(dir).mtimeMs, 1_000_000_000, `${label}: the canary dir was not changed`);
      assert.is(readFileSync(file, 'utf8'), secret);
      utimesSync(file, 1_000_000, 1_000_000); // this check's own read moved the atime
    },
  };
}

const canaries: string[] = [];
function canary(): Canary {
  const c = plantCanary();
  canaries.push(c.dir);
  return c;
}

async function tarFile(path: string, entries: TarInput[]): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of packTar(entries)) chunks.push(c as Buffer);
  writeFileSync(path, Buffer.concat(chunks));
}

const dirEntry = (name: string, extra: Partial<TarInput> = {}): TarInput => ({
  name,
  type: 'dir',
  mode: 0o755,
  uid: 0,
  gid: 0,
  size: 0,
  mtime: 1_600_000_000,
  ...extra,
});
const fileEntry = (name: string, body: string, extra: Partial<TarInput> = {}): TarInput => ({
  name,
  type: 'file',
  mode: 0o644,
  uid: 0,
  gid: 0,
  size: Buffer.byteLength(body),
  mtime: 1_600_000_000,
  data: Buffer.from(body),
  ...extra,
});
const linkEntry = (name: string, type: 'symlink' | 'link', linkname: string): TarInput => ({
  name,
  type,
  linkname,
  mode: 0o777,
  uid: 0,
  gid: 0,
  size: 0,
  mtime: 1_600_000_000,
});

/** A tree holding `ping` with the binary capability and a user xattr, archived by GNU tar (not kiln's writer). */
function gnuTarWithCaps(ctx: string, name: string): void {
  const src = tempDir('caps-src');
  writeFileSync(join(src, 'ping'), 'ping binary');
  chmodSync(join(src, 'ping'), 0o755);
  setXattr(join(src, 'ping'), 'security.capability', CAP);
  setXattr(join(src, 'ping'), 'user.high', HIGH);
  execFileSync('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-C', src, '-cf', join(ctx, name), 'ping']);
}

let h: Harness | undefined;
async function harness(): Promise<Harness> {
  return (h ??= await createHarness());
}

test.after.each(() => {
  cleanup();
  for (const d of canaries.splice(0)) rmSync(d, { recursive: true, force: true });
});
test.after(async () => {
  await h?.close();
});

test('ADD keeps a binary security.capability (and any binary xattr) byte for byte', async () => {
  const ctx = tempDir('ctx');
  gnuTarWithCaps(ctx, 'caps.tar');
  execFileSync('gzip', ['-k', join(ctx, 'caps.tar')]);
  execFileSync('zstd', ['-q', '-k', join(ctx, 'caps.tar')]);
  for (const archive of ['caps.tar', 'caps.tar.gz', 'caps.tar.zst']) {
    const root = tempDir('dest');
    await addFiles({ srcRoot: ctx, sources: [archive], destRoot: root, dest: '/opt/' });
    const x = getXattrs(join(root, 'opt/ping')) ?? {};
    assert.ok(x['security.capability'], `${archive}: security.capability is set`);
    assert.is(x['security.capability']!.toString('hex'), CAP.toString('hex'), archive);
    assert.is(x['user.high']?.toString('hex'), HIGH.toString('hex'), archive);
    assert.is(statSync(join(root, 'opt/ping')).mode & 0o7777, 0o755);
  }
});

test('a built image keeps an ADDed binary security.capability in its layer (read back by GNU tar)', async () => {
  const b = await harness();
  const ctx = await b.context({ Dockerfile: 'FROM busybox\nADD caps.tar /opt/\n' });
  gnuTarWithCaps(ctx, 'caps.tar');
  await b.build(ctx, { tags: ['hostile-caps:1'] });
  const img = await b.image('hostile-caps:1');
  let layer = await b.builder.root.content.readBuffer(img.manifest.layers.at(-1)!.digest);
  if (layer[0] === 0x1f && layer[1] === 0x8b) layer = gunzipSync(layer);
  const work = tempDir('layer');
  writeFileSync(join(work, 'layer.tar'), layer);
  mkdirSync(join(work, 'out'));
  execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-C', join(work, 'out'), '-xf', join(work, 'layer.tar')]);
  const x = getXattrs(join(work, 'out/opt/ping')) ?? {};
  assert.is(x['security.capability']?.toString('hex'), CAP.toString('hex'));
  assert.is(x['user.high']?.toString('hex'), HIGH.toString('hex'));
});

test("ADD never applies trusted.overlay.* from an archive: an opaque marker cannot hide the base image's /bin", async () => {
  const evil = [
    dirEntry('bin', { xattrs: { 'trusted.overlay.opaque': Buffer.from('y'), 'user.kept': Buffer.from('ok') } }),
    fileEntry('bin/kiln-extra', 'extra', { xattrs: { 'trusted.overlay.redirect': Buffer.from('/etc'), 'trusted.overlay.metacopy': Buffer.alloc(0) } }),
  ];
  // On the file operation itself: nothing in the trusted.overlay namespace lands on disk, other xattrs do.
  const ctx = tempDir('ctx');
  await tarFile(join(ctx, 'opaque.tar'), evil);
  const root = tempDir('dest');
  await addFiles({ srcRoot: ctx, sources: ['opaque.tar'], destRoot: root, dest: '/' });
  const onBin = getXattrs(join(root, 'bin')) ?? {};
  assert.equal(
    Object.keys(onBin).filter((k) => k.startsWith('trusted.overlay.')),
    [],
  );
  assert.is(onBin['user.kept']?.toString(), 'ok');
  assert.equal(
    Object.keys(getXattrs(join(root, 'bin/kiln-extra')) ?? {}).filter((k) => k.startsWith('trusted.overlay.')),
    [],
  );

  // In a build on overlayfs: the base's /bin (busybox, /bin/sh) stays visible to the next RUN and in the image.
  // `ADD --link` writes straight into the new snapshot's upper dir, where an opaque marker takes effect.
  const b = await harness();
  for (const [i, add] of ['ADD --link', 'ADD'].entries()) {
    const bctx = await b.context({ Dockerfile: `FROM busybox\n${add} opaque.tar /\nRUN ls /bin/sh /bin/kiln-extra > /seen\n` });
    await tarFile(join(bctx, 'opaque.tar'), evil);
    const tag = `hostile-opaque:${i}`;
    await b.build(bctx, { tags: [tag] });
    const tree = await b.tree(tag);
    assert.ok(
      tree.some((e) => e.path === 'seen' && e.type === 'file'),
      `${add}: RUN found /bin/sh after the ADD`,
    );
    const img = await b.image(tag);
    let layer = await b.builder.root.content.readBuffer(img.manifest.layers.at(-2)!.digest);
    if (layer[0] === 0x1f && layer[1] === 0x8b) layer = gunzipSync(layer);
    const work = tempDir('layer');
    writeFileSync(join(work, 'layer.tar'), layer);
    const members = execFileSync('tar', ['-tf', join(work, 'layer.tar')], { encoding: 'utf8' }).split('\n');
    assert.ok(
      members.some((m) => m.replace(/^\.?\//, '') === 'bin/kiln-extra'),
      `${add}: the ADD layer holds the archive's file`,
    );
    assert.not.ok(
      members.some((m) => m.includes('.wh.')),
      `${add}: the ADD layer hides nothing of the base`,
    );
  }
});

test("ADD of an archive whose first entry is ./ leaves the existing destination's owner and mode alone", async () => {
  const src = tempDir('dot-src');
  writeFileSync(join(src, 'f'), 'x');
  chownSync(join(src, 'f'), 491327, 89939);
  chmodSync(src, 0o700);
  chownSync(src, 491327, 89939);
  const ctx = tempDir('ctx');
  execFileSync('tar', ['--numeric-owner', '-C', src, '-cf', join(ctx, 'dot.tar'), '.']);
  assert.match(execFileSync('tar', ['-tf', join(ctx, 'dot.tar')], { encoding: 'utf8' }).split('\n')[0]!, /^\.\/$/);
  const root = tempDir('dest');
  mkdirSync(join(root, 'dst'), { mode: 0o755 });
  chmodSync(join(root, 'dst'), 0o755);
  await addFiles({ srcRoot: ctx, sources: ['dot.tar'], destRoot: root, dest: '/dst' });
  const st = lstatSync(join(root, 'dst'));
  assert.is(`${st.uid}:${st.gid}`, '0:0', 'the destination keeps its owner (moby Unpack skips ".")');
  assert.is(st.mode & 0o7777, 0o755, 'and its mode');
  const f = lstatSync(join(root, 'dst/f'));
  assert.is(`${f.uid}:${f.gid}`, '491327:89939', "entries below it keep the archive's owners");
  // With --chown the same: the destination is not the archive's to change.
  await addFiles({ srcRoot: ctx, sources: ['dot.tar'], destRoot: root, dest: '/dst', chown: '7:8' });
  assert.is(`${lstatSync(join(root, 'dst')).uid}:${lstatSync(join(root, 'dst')).gid}`, '0:0');
  assert.is(`${lstatSync(join(root, 'dst/f')).uid}:${lstatSync(join(root, 'dst/f')).gid}`, '7:8');
});

test('archive entries, symlinks and hardlinks stay inside the destination; host canaries untouched and unread', async () => {
  const c = canary();
  const ctx = tempDir('ctx');
  const up = '../'.repeat(12);
  await tarFile(join(ctx, 'redirect.tar'), [
    linkEntry('abs', 'symlink', c.dir),
    fileEntry('abs/pwned-abs', 'x'),
    linkEntry('rel', 'symlink', `${up}${c.dir.slice(1)}`),
    fileEntry('rel/pwned-rel', 'x'),
    fileEntry(`${c.dir}/pwned-absname`, 'x'),
    dirEntry('abs/newdir'),
    linkEntry('abs/secret-link', 'symlink', c.file),
  ]);
  const root = tempDir('dest');
  await addFiles({ srcRoot: ctx, sources: ['redirect.tar'], destRoot: root, dest: '/out' });
  c.check('symlink redirects');
  // Followed as if /out were `/`: everything landed under /out<canary dir>.
  const inside = join(root, 'out', c.dir);
  assert.equal(readdirSync(inside).sort(), ['newdir', 'pwned-abs', 'pwned-absname', 'pwned-rel', 'secret-link']);

  // Hardlinks: climbing out is refused; through a planted symlink the target resolves inside (and is absent).
  await tarFile(join(ctx, 'hl-up.tar'), [linkEntry('h', 'link', `${up}${c.file.slice(1)}`)]);
  await rejects(() => addFiles({ srcRoot: ctx, sources: ['hl-up.tar'], destRoot: root, dest: '/hl1' }), 'UNSAFE_PATH');
  await tarFile(join(ctx, 'hl-abs.tar'), [linkEntry('h', 'link', c.file)]);
  await rejects(() => addFiles({ srcRoot: ctx, sources: ['hl-abs.tar'], destRoot: root, dest: '/hl2' }), 'ARCHIVE_INVALID', /does not contain/);
  await tarFile(join(ctx, 'hl-via-link.tar'), [linkEntry('l', 'symlink', c.dir), linkEntry('h', 'link', 'l/secret')]);
  await rejects(() => addFiles({ srcRoot: ctx, sources: ['hl-via-link.tar'], destRoot: root, dest: '/hl3' }), 'ARCHIVE_INVALID', /does not contain/);
  await tarFile(join(ctx, 'up.tar'), [fileEntry(`${up}${c.dir.slice(1)}/pwned-up`, 'x')]);
  await rejects(() => addFiles({ srcRoot: ctx, sources: ['up.tar'], destRoot: root, dest: '/up' }), 'UNSAFE_PATH');
  c.check('hardlinks and ../ names');
  assert.not.ok(existsSync(join(root, 'hl1/h')) || existsSync(join(root, 'hl2/h')) || existsSync(join(root, 'hl3/h')));

  // A destination that is itself a symlink to the host (planted by an earlier step) is resolved inside the root.
  symlinkSync(c.dir, join(root, 'dest-link'));
  await tarFile(join(ctx, 'plain.tar'), [fileEntry('pwned-dest', 'x')]);
  await addFiles({ srcRoot: ctx, sources: ['plain.tar'], destRoot: root, dest: '/dest-link/' });
  c.check('symlinked destination');
  assert.ok(existsSync(join(root, c.dir, 'pwned-dest')));
});

test('through kiln serve (docker CLI): binary xattr kept, opaque marker ignored, redirects confined, canaries intact', async () => {
  const c = canary();
  const ctx = tempDir('serve-ctx');
  gnuTarWithCaps(ctx, 'caps.tar');
  await tarFile(join(ctx, 'opaque.tar'), [dirEntry('bin', { xattrs: { 'trusted.overlay.opaque': Buffer.from('y') } }), fileEntry('bin/kiln-extra', 'extra')]);
  await tarFile(join(ctx, 'redirect.tar'), [
    linkEntry('abs', 'symlink', c.dir),
    fileEntry('abs/pwned-abs', 'x'),
    linkEntry('rel', 'symlink', `${'../'.repeat(12)}${c.dir.slice(1)}`),
    fileEntry('rel/pwned-rel', 'x'),
  ]);
  writeFileSync(
    join(ctx, 'Dockerfile'),
    [
      'FROM busybox',
      'ADD --link opaque.tar /',
      'ADD redirect.tar /out',
      'ADD caps.tar /opt/',
      `RUN ls /bin/sh /bin/kiln-extra && test -f /out${c.dir}/pwned-abs && test -f /out${c.dir}/pwned-rel`,
      '',
    ].join('\n'),
  );
  const s = await startServe();
  try {
    const built = await docker(s, ['build', '-q', '-t', 'hostile-archive:1', ctx]);
    assert.is(built.code, 0, `docker build through kiln serve failed:\n${built.stdout}\n${built.stderr}\n${s.logs().slice(-2000)}`);
    c.check('through kiln serve');
    const work = tempDir('saved');
    const saved = await docker(s, ['save', '-o', join(work, 'img.tar'), 'hostile-archive:1']);
    assert.is(saved.code, 0, saved.stderr);
    mkdirSync(join(work, 'img'));
    execFileSync('tar', ['-C', join(work, 'img'), '-xf', join(work, 'img.tar')]);
    const manifest = JSON.parse(readFileSync(join(work, 'img/manifest.json'), 'utf8')) as Array<{ Layers: string[] }>;
    mkdirSync(join(work, 'rootfs'));
    for (const l of manifest[0]!.Layers) {
      execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-C', join(work, 'rootfs'), '-xf', join(work, 'img', l)]);
    }
    const x = getXattrs(join(work, 'rootfs/opt/ping')) ?? {};
    assert.is(x['security.capability']?.toString('hex'), CAP.toString('hex'));
    assert.ok(existsSync(join(work, 'rootfs/bin/sh')) || lstatSync(join(work, 'rootfs/bin/sh')).isSymbolicLink(), "the base's /bin/sh is in the image");
  } finally {
    await s.stop();
  }
});

test.run();
