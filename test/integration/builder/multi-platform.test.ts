/**
 * Multi-platform builds: one `kiln build --platform linux/amd64,linux/arm64` gives an image index whose arm64
 * image ran its RUN through qemu (binfmt_misc, flag F), with a `FROM --platform=$BUILDPLATFORM` stage built once;
 * the index round-trips through a registry; a platform without an emulator fails before any step with the fix.
 * The test registers the arm64 emulator only if no F registration serves it, and removes only what it registered.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { binfmtEntries, canRunPlatform, registerEmulators, unregisterEmulator } from '../../../src/sandbox/binfmt.js';
import type { BuildRecord } from '../../../src/history/types.js';
import { kiln } from '../../helpers/kiln-cli.js';
import { docker, startServe } from '../server/serve-helper.js';
import { skopeo, startRegistry, type TestRegistry } from '../../helpers/registry.js';

const run = promisify(execFile);
let reg: TestRegistry;
let dir: string;
const registered: string[] = [];

const DOCKERFILE = `FROM --platform=$BUILDPLATFORM busybox AS builder
ARG BUILDARCH
RUN echo "built on $BUILDARCH" > /built && head -c 16 /dev/urandom | od -An -tx1 > /nonce
FROM busybox
ARG TARGETARCH
RUN uname -m > /arch && echo "$TARGETARCH" > /targetarch
COPY --from=builder /built /nonce /
`;

test.before(async () => {
  for (const r of await registerEmulators(['linux/arm64'])) if (r.action === 'registered') registered.push(r.name!);
  assert.ok((await canRunPlatform('linux/arm64')).ok, 'arm64 emulation is available after registration');
  reg = await startRegistry();
  dir = await mkdtemp(join(tmpdir(), 'kiln-multi-'));
});
test.after(async () => {
  await reg?.stop();
  for (const name of registered) await unregisterEmulator(name);
  await rm(dir, { recursive: true, force: true });
});

async function context(): Promise<string> {
  const ctx = await mkdtemp(join(dir, 'ctx-'));
  await writeFile(join(ctx, 'Dockerfile'), DOCKERFILE);
  return ctx;
}

test('a two-platform build: an index of two images, RUN through qemu for arm64, the builder stage once, a no-op rebuild', async () => {
  const root = join(dir, 'root');
  const base = await kiln(['base', 'busybox', '--platform', 'linux/amd64,linux/arm64'], { root });
  assert.is(base.code, 0, base.stderr);
  const ctx = await context();
  const out = join(dir, 'out');
  const b = await kiln(
    ['build', '--progress', 'plain', '--platform', 'linux/amd64,arm64', '-t', 'multi:1', '-o', `type=local,dest=${out}`, '-o', 'type=image', ctx],
    {
      root,
    },
  );
  assert.is(b.code, 0, b.stderr);
  // The builder stage's RUN ran once: for the second platform it joined the first or hit its record.
  const builderRuns = b.stderr.split('\n').filter((l) => /^#\d+ \[linux\/(amd64|arm64) builder 2\/2\] RUN/.test(l));
  assert.is(builderRuns.length, 2, b.stderr);
  const ids = builderRuns.map((l) => /^#(\d+)/.exec(l)![1]!);
  const done = ids.filter((id) => new RegExp(`^#${id} DONE`, 'm').test(b.stderr)).length;
  assert.is(done, 1, `one of the two builder RUNs executed:\n${b.stderr}`);

  const layout = join(root, 'oci');
  const raw = JSON.parse(await skopeo(['inspect', '--raw', `oci:${layout}:docker.io/library/multi:1`])) as {
    mediaType: string;
    manifests: Array<{ digest: string; platform: { os: string; architecture: string } }>;
  };
  assert.is(raw.mediaType, 'application/vnd.oci.image.index.v1+json');
  assert.equal(
    raw.manifests.map((m) => `${m.platform.os}/${m.platform.architecture}`),
    ['linux/amd64', 'linux/arm64'],
  );
  // umoci unpacks each platform's image (copied out of the index by skopeo): /arch is the machine that ran RUN.
  const nonces: string[] = [];
  for (const [arch, machine] of [
    ['amd64', 'x86_64'],
    ['arm64', 'aarch64'],
  ] as const) {
    const one = join(dir, `layout-${arch}`);
    await skopeo(['copy', '--override-arch', arch, `oci:${layout}:docker.io/library/multi:1`, `oci:${one}:img`]);
    const bundle = join(dir, `bundle-${arch}`);
    await run('umoci', ['unpack', '--rootless', '--image', `${one}:img`, bundle]);
    assert.is((await readFile(join(bundle, 'rootfs/arch'), 'utf8')).trim(), machine);
    assert.is((await readFile(join(bundle, 'rootfs/targetarch'), 'utf8')).trim(), arch);
    assert.is((await readFile(join(bundle, 'rootfs/built'), 'utf8')).trim(), 'built on amd64');
    nonces.push(await readFile(join(bundle, 'rootfs/nonce'), 'utf8'));
    const cfg = JSON.parse(await skopeo(['inspect', '--config', `oci:${one}:img`])) as { architecture: string };
    assert.is(cfg.architecture, arch);
    // The local output wrote one directory per platform, as BuildKit does.
    assert.is((await readFile(join(out, `linux_${arch}`, 'arch'), 'utf8')).trim(), machine);
  }
  assert.is(nonces[0], nonces[1], 'both platforms copied the one builder result');

  const arm = await kiln(['run', '--rm', '--platform', 'linux/arm64', 'multi:1', 'uname', '-m'], { root });
  assert.is(arm.code, 0, arm.stderr);
  assert.is(arm.stdout.trim(), 'aarch64');
  // The ID the build printed is the index's digest, and names the image.
  const byId = await kiln(['run', '--rm', b.stdout.trim().split('\n').at(-1)!, 'uname', '-m'], { root });
  assert.is(byId.stdout.trim(), 'x86_64', byId.stderr);

  const blobsBefore = (await readdir(join(layout, 'blobs/sha256'))).sort();
  const indexBefore = await stat(join(layout, 'index.json'));
  const again = await kiln(['build', '--progress', 'plain', '--platform', 'linux/amd64,linux/arm64', '-t', 'multi:1', ctx], { root });
  assert.is(again.code, 0, again.stderr);
  // A rebuild that changed nothing writes nothing, as a single-platform one: no blob, no index.json rewrite.
  assert.equal((await readdir(join(layout, 'blobs/sha256'))).sort(), blobsBefore);
  const indexAfter = await stat(join(layout, 'index.json'));
  assert.equal([indexAfter.ino, indexAfter.mtimeMs], [indexBefore.ino, indexBefore.mtimeMs], 'index.json untouched');
  assert.not.match(again.stderr, /cache miss/);
  assert.is(again.stderr.match(/CACHED/g)?.length, 6, again.stderr);
  assert.is(again.stdout.trim(), b.stdout.trim().split('\n').at(-1), 'the same index digest');
});

test('the build record of a two-platform build: both platforms, a lane per platform and stage, each image', async () => {
  const root = join(dir, 'root');
  const inspect = await kiln(['history', 'inspect', '^0', '--format', 'json'], { root });
  assert.is(inspect.code, 0, inspect.stderr);
  const rec = JSON.parse(inspect.stdout) as BuildRecord;
  assert.is(rec.status, 'completed');
  assert.equal(rec.platforms, ['linux/amd64', 'linux/arm64']);
  // One lane per platform and stage; a stage reading another names that platform's lane.
  const lanes = new Map(rec.stages.map((st) => [st.label, st]));
  for (const p of ['linux/amd64', 'linux/arm64']) {
    const mine = rec.stages.filter((st) => st.platform === p || st.label.startsWith(`${p} `));
    assert.ok(mine.length >= 1, `a lane for ${p}: ${JSON.stringify(rec.stages)}`);
  }
  for (const st of rec.stages) for (const d of st.dependsOn) assert.ok(lanes.has(d), `${st.label} depends on a known lane ${d}`);
  for (const step of rec.steps) assert.ok(lanes.has(step.stage), `step ${step.id} in a known lane ${step.stage}`);
  assert.ok(
    rec.steps.every((s) => s.status === 'cached' || s.kind === 'FROM'),
    'the no-op rebuild hit everywhere',
  );
  assert.equal(
    rec.result?.platforms?.map((p) => p.platform),
    ['linux/amd64', 'linux/arm64'],
  );
});

test('the index is pushed to and pulled from a registry; a fresh root runs its arm64 image', async () => {
  const root = join(dir, 'push');
  assert.is((await kiln(['base', 'busybox', '--platform', 'linux/amd64,linux/arm64'], { root })).code, 0);
  const ref = `${reg.host}/kiln/multi:1`;
  const b = await kiln(['build', '--platform', 'linux/amd64,linux/arm64', '-t', ref, '--push', await context()], { root });
  assert.is(b.code, 0, b.stderr);
  const raw = JSON.parse(await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${ref}`])) as {
    manifests: Array<{ platform: { architecture: string } }>;
  };
  assert.equal(
    raw.manifests.map((m) => m.platform.architecture),
    ['amd64', 'arm64'],
  );
  const fresh = join(dir, 'fresh');
  const pulled = await kiln(['pull', '--platform', 'linux/arm64', ref], { root: fresh });
  assert.is(pulled.code, 0, pulled.stderr);
  const r = await kiln(['run', '--rm', '--platform', 'linux/arm64', ref, 'cat', '/arch'], { root: fresh });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout.trim(), 'aarch64');

  // --all-platforms stores the whole index under the tag: both platforms run from it.
  const all = join(dir, 'all');
  const pulledAll = await kiln(['pull', '--all-platforms', ref], { root: all });
  assert.is(pulledAll.code, 0, pulledAll.stderr);
  const listed = JSON.parse((await kiln(['images', '--format', 'json'], { root: all })).stdout.trim()) as { Platforms?: string[] };
  assert.equal(listed.Platforms, ['linux/amd64', 'linux/arm64']);
  const table = (await kiln(['images'], { root: all })).stdout;
  assert.match(table, /PLATFORMS/);
  assert.match(table, 'linux/amd64,linux/arm64');
  for (const [p, machine] of [
    ['linux/amd64', 'x86_64'],
    ['linux/arm64', 'aarch64'],
  ] as const) {
    const x = await kiln(['run', '--rm', '--platform', p, ref, 'cat', '/arch'], { root: all });
    assert.is(x.stdout.trim(), machine, x.stderr);
  }
});

test('--cache-to of two platforms is one cache: a fresh root importing it runs no step and gets the same index', async () => {
  const [a, b] = [join(dir, 'cache-a'), join(dir, 'cache-b')];
  for (const r of [a, b]) assert.is((await kiln(['base', 'busybox', '--platform', 'linux/amd64,linux/arm64'], { root: r })).code, 0);
  const ctx = await context();
  const cacheDir = join(dir, 'platforms-cache');
  const first = await kiln(['build', '--platform', 'linux/amd64,linux/arm64', '-t', 'm:1', '--cache-to', `type=local,dest=${cacheDir},mode=max`, ctx], {
    root: a,
  });
  assert.is(first.code, 0, first.stderr);
  const meta = join(dir, 'platforms-meta.json');
  const second = await kiln(
    ['build', '--platform', 'linux/amd64,linux/arm64', '-t', 'm:1', '--metadata-file', meta, '--cache-from', `type=local,src=${cacheDir}`, ctx],
    { root: b },
  );
  assert.is(second.code, 0, second.stderr);
  assert.is((JSON.parse(await readFile(meta, 'utf8')) as { 'kiln.steps': { executed: number } })['kiln.steps'].executed, 0, second.stderr);
  assert.is(second.stdout.trim().split('\n').at(-1), first.stdout.trim().split('\n').at(-1), 'the same index digest');
});

test('kiln save and load keep the index (oci and docker archives)', async () => {
  const root = join(dir, 'root');
  for (const format of ['oci', 'docker']) {
    const tar = join(dir, `multi-${format}.tar`);
    const saved = await kiln(['save', '--format', format, '-o', tar, 'multi:1'], { root });
    assert.is(saved.code, 0, saved.stderr);
    const other = join(dir, `loaded-${format}`);
    const loaded = await kiln(['load', '-i', tar], { root: other });
    assert.is(loaded.code, 0, loaded.stderr);
    const inspect = JSON.parse((await kiln(['inspect', '--platform', 'linux/arm64', 'multi:1'], { root: other })).stdout) as Array<{
      Architecture: string;
      Platforms?: string[];
    }>;
    assert.is(inspect[0]!.Architecture, 'arm64');
    assert.equal(inspect[0]!.Platforms, ['linux/amd64', 'linux/arm64']);
  }
});

test('docker save through kiln serve keeps the index: a root loading the archive has both platforms', async () => {
  const served = await startServe({ root: join(dir, 'root') });
  try {
    const tar = join(dir, 'served-save.tar');
    const saved = await docker(served, ['save', '-o', tar, 'multi:1']);
    assert.is(saved.code, 0, saved.stderr);
    const other = join(dir, 'served-loaded');
    const loaded = await kiln(['load', '-i', tar], { root: other });
    assert.is(loaded.code, 0, loaded.stderr);
    const inspect = JSON.parse((await kiln(['inspect', '--platform', 'linux/arm64', 'multi:1'], { root: other })).stdout) as Array<{
      Architecture: string;
      Platforms?: string[];
    }>;
    assert.is(inspect[0]!.Architecture, 'arm64');
    assert.equal(inspect[0]!.Platforms, ['linux/amd64', 'linux/arm64']);
  } finally {
    await served.stop();
  }
});

test('a platform without an emulator fails before any step, naming it and the fix; nothing is tagged', async () => {
  let missing: string | undefined;
  for (const p of ['linux/s390x', 'linux/riscv64', 'linux/ppc64le', 'linux/mips64le']) {
    if (!(await canRunPlatform(p)).ok) {
      missing = p;
      break;
    }
  }
  assert.ok(missing, 'one of s390x, riscv64, ppc64le, mips64le has no binfmt_misc registration here');
  const root = join(dir, 'missing');
  assert.is((await kiln(['base', 'busybox'], { root })).code, 0);
  const ctx = await mkdtemp(join(dir, 'ctx-'));
  await mkdir(ctx, { recursive: true });
  await writeFile(join(ctx, 'Dockerfile'), 'FROM busybox\nRUN echo hi > /hi\n');
  const b = await kiln(['build', '--progress', 'plain', '--platform', `linux/amd64,${missing}`, '-t', 'nope:1', ctx], { root });
  assert.is.not(b.code, 0);
  assert.match(b.stderr, `cannot run RUN steps for ${missing}`);
  assert.match(b.stderr, 'apt-get install qemu-user-static');
  assert.match(b.stderr, 'kiln setup binfmt');
  assert.not.match(b.stderr, /RUN echo hi/);
  const images = await kiln(['images'], { root });
  assert.not.match(images.stdout, /nope/);
});

test('-o type=tar of two platforms: one tar with a directory per platform, files keeping their owners', async () => {
  const root = join(dir, 'root');
  const ctx = await mkdtemp(join(dir, 'ctx-tar-'));
  await writeFile(join(ctx, 'Dockerfile'), 'FROM busybox\nRUN touch /owned && chown 1234:5678 /owned && uname -m > /arch\n');
  const tarPath = join(dir, 'two.tar');
  const b = await kiln(['build', '--platform', 'linux/amd64,linux/arm64', '-o', `type=tar,dest=${tarPath}`, ctx], { root });
  assert.is(b.code, 0, b.stderr);
  const { stdout } = await run('tar', ['--numeric-owner', '-tvf', tarPath]);
  for (const p of ['linux_amd64', 'linux_arm64']) {
    const line = stdout.split('\n').find((l) => l.endsWith(` ${p}/owned`));
    assert.ok(line, `${p}/owned is in the tar:\n${stdout.slice(0, 2000)}`);
    assert.match(line!, /\b1234\/5678\b/);
  }
  const { stdout: arch } = await run('tar', ['-xOf', tarPath, 'linux_arm64/arch']);
  assert.is(arch.trim(), 'aarch64');
});

test('kiln setup binfmt registers kiln-qemu-<arch> with flag F, idempotently, and --remove takes away only its own', async () => {
  let free: string | undefined;
  for (const p of ['linux/riscv64', 'linux/ppc64le', 'linux/s390x']) {
    if (!(await canRunPlatform(p)).ok) {
      free = p;
      break;
    }
  }
  assert.ok(free, 'one of riscv64, ppc64le, s390x has no binfmt_misc registration here');
  const others = async () => (await binfmtEntries()).filter((e) => !e.name.startsWith('kiln-qemu-')).map((e) => `${e.name} ${e.flags} ${e.enabled}`);
  const before = await others();
  const first = await kiln(['setup', 'binfmt', '--platform', free]);
  assert.is(first.code, 0, first.stderr);
  const name = /registered (kiln-qemu-\S+) \(flag F\)/.exec(first.stdout)?.[1];
  try {
    assert.ok(name, first.stdout);
    assert.ok((await canRunPlatform(free)).ok, `${free} runs after kiln setup binfmt`);
    const again = await kiln(['setup', 'binfmt', '--platform', free]);
    assert.match(again.stdout, `${free}: already served by ${name}`);
  } finally {
    if (name) {
      const removed = await kiln(['setup', 'binfmt', '--remove', '--platform', free]);
      assert.match(removed.stdout, `removed ${name}`);
    }
  }
  assert.not.ok((await binfmtEntries()).some((e) => e.name === name));
  assert.equal(await others(), before, 'no other registration changed');
});

test.run();
