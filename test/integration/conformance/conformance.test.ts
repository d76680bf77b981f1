/**
 * Conformance: every build context in ../shared/conformance/cases (test/helpers/shared-data.ts), built by kiln and compared with what BuildKit
 * produces. The expected result comes from a peer in the same run: buildah 1.28 (Debian's package) builds the
 * case's `.ref/Dockerfile.reference` where the case has one (a Dockerfile written so that buildah reaches BuildKit's
 * result where buildah 1.28 itself differs), else the case's own Dockerfile. Where BuildKit and buildah are known
 * to differ and no reference exists, `known-differences.ts` says which fields to leave out and why.
 * Both images are unpacked by independent tools (umoci for kiln's, buildah's own mount for buildah's) and compared
 * as file trees (path, type, mode, owner, size, content, link target, hardlinks) plus the config fields a
 * Dockerfile sets. Cases marked `expect_fail` must fail with a clean error (no stack) and tag nothing.
 * Filter with KILN_CONFORMANCE=<substring> to run a subset.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createBuildah, type Buildah } from '../../helpers/buildah.js';
import { kiln } from '../../helpers/kiln-cli.js';
import { diffTrees, listTree, type TreeEntry } from '../../helpers/tree.js';
import { diffConfigs } from './config-compare.js';
import { KNOWN_DIFFERENCES, KNOWN_FAILURES, isPeerRunStub, type KnownDifference } from './known-differences.js';
import { CONFORMANCE_CASES } from '../../helpers/shared-data.js';

const run = promisify(execFile);
const CASES_DIR = CONFORMANCE_CASES;
const BASE_REF = '127.0.0.1:5000/conformance/busybox:pinned';

interface CaseMeta {
  source: string;
  build_args?: Record<string, string>;
  expect_fail?: boolean;
  reference?: string;
}

const filter = process.env.KILN_CONFORMANCE ?? '';
const caseNames = existsSync(CASES_DIR)
  ? readdirSync(CASES_DIR)
      .filter((n) => n.includes(filter))
      .sort()
  : [];

const conformance = suite<{ work: string; root: string; buildah: Buildah }>('conformance', {} as any);

conformance.before(async (ctx) => {
  ctx.work = await mkdtemp(join(tmpdir(), 'kiln-conf-'));
  ctx.root = join(ctx.work, 'root');
  const base = await kiln(['base', 'busybox', '--tag', BASE_REF], { root: ctx.root });
  if (base.code !== 0) throw new Error(`kiln base failed: ${base.stderr}`);
  ctx.buildah = await createBuildah(join(ctx.work, 'buildah'));
  await ctx.buildah.importOci(join(ctx.root, 'oci'), BASE_REF, BASE_REF);
});

conformance.after(async (ctx) => {
  await ctx.buildah?.destroy();
  await run('sh', ['-c', `grep -o ' ${ctx.work}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l`]).catch(() => {});
  if (ctx.work) await rm(ctx.work, { recursive: true, force: true });
});

/** Copies the case's context (read-only in shared/) to a writable place and runs its prepare.sh there. */
async function prepareContext(name: string, work: string): Promise<string> {
  const dest = join(work, 'ctx', name);
  await run('mkdir', ['-p', join(work, 'ctx')]);
  await run('cp', ['-a', join(CASES_DIR, name, 'context'), dest]);
  await run('chmod', ['-R', 'u+w', dest]);
  const prepare = join(CASES_DIR, name, 'prepare.sh');
  if (existsSync(prepare)) await run('sh', [prepare], { cwd: dest });
  return dest;
}

/** Unpacks kiln's image with skopeo and umoci (independent readers of the OCI layout). */
async function unpackKilnImage(root: string, ref: string, work: string): Promise<{ rootfs: string; config: Record<string, unknown> }> {
  const layout = join(work, 'layout');
  await rm(layout, { recursive: true, force: true });
  await run('skopeo', ['copy', '--quiet', `oci:${join(root, 'oci')}:${ref}`, `oci:${layout}:img`]);
  return unpackLayout(layout, join(work, 'bundle'));
}

/** The root filesystem and config of the image `img` in an OCI layout, unpacked by umoci. */
async function unpackLayout(layout: string, bundle: string): Promise<{ rootfs: string; config: Record<string, unknown> }> {
  await rm(bundle, { recursive: true, force: true });
  // `raw unpack`: the root filesystem only (plain `unpack` also resolves the config's USER in /etc/passwd).
  await run('mkdir', ['-p', bundle]);
  await run('umoci', ['raw', 'unpack', '--image', `${layout}:img`, join(bundle, 'rootfs')]);
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
  const blob = (d: string) => JSON.parse(readFileSync(join(layout, 'blobs', 'sha256', d.slice('sha256:'.length)), 'utf8'));
  const manifest = blob(index.manifests[0].digest);
  const config = blob(manifest.config.digest);
  return { rootfs: join(bundle, 'rootfs'), config: config.config ?? {} };
}

/** The peer's tree corrected to BuildKit's: run stubs dropped, known differences applied. */
function expectedFromPeer(peer: TreeEntry[], mine: TreeEntry[], known: KnownDifference): TreeEntry[] {
  const minePaths = new Set(mine.map((e) => e.path));
  const absent = known.absentPaths ?? [];
  return peer
    .filter((e) => !(isPeerRunStub(e) && !minePaths.has(e.path)))
    .filter((e) => !absent.some((a) => e.path === a || e.path.startsWith(`${a}/`)))
    .map((e) => ({ ...e, ...(known.entries?.[e.path] ?? {}) }));
}

/** Checks the paths a known difference says BuildKit's image has (with their type) or lacks. */
function checkPaths(known: KnownDifference, mine: TreeEntry[]): string[] {
  const byPath = new Map(mine.map((e) => [e.path, e]));
  const out: string[] = [];
  for (const [path, want] of Object.entries(known.extraPaths ?? {})) {
    const e = byPath.get(path);
    if (!e) {
      out.push(`missing (BuildKit has it): ${path} (${want.type})`);
      continue;
    }
    for (const [field, value] of Object.entries(want)) {
      if (e[field as keyof TreeEntry] !== value) out.push(`${path}: ${field} expected ${value} got ${e[field as keyof TreeEntry]}`);
    }
  }
  for (const path of known.absentPaths ?? []) if (byPath.has(path)) out.push(`unexpected (BuildKit lacks it): ${path}`);
  return out;
}

/** Builds one case and throws (an uvu assertion) when kiln's result differs from the expected one. */
async function checkCase(name: string, { work, root, buildah }: { work: string; root: string; buildah: Buildah }): Promise<void> {
  const meta: CaseMeta = JSON.parse(readFileSync(join(CASES_DIR, name, 'case.json'), 'utf8'));
  const known = KNOWN_DIFFERENCES[name] ?? {};
  const caseWork = join(work, 'cases', name);
  await run('mkdir', ['-p', caseWork]);
  const ctxDir = await prepareContext(name, work);
  const tag = `127.0.0.1:5000/conformance/${name}:kiln`;
  const args = ['build', '--progress', 'plain', '-t', tag];
  for (const [k, v] of Object.entries(meta.build_args ?? {})) args.push('--build-arg', `${k}=${v}`);
  const built = await kiln([...args, ctxDir], { root, timeoutMs: 300_000 });

  if (meta.expect_fail && !known.buildkitSucceeds) {
    assert.is.not(built.code, 0, `${name} must fail to build; kiln output:\n${built.stdout}\n${built.stderr}`);
    assert.match(built.stderr, /^error: /m, `a clean error line, got:\n${built.stderr}`);
    assert.not.match(built.stderr, /\n\s+at .+:\d+:\d+\)?\n/, `no stack trace for a user error:\n${built.stderr}`);
    const images = await kiln(['images', '-q', tag], { root });
    assert.is(images.stdout.trim(), '', 'a failed build tags nothing');
    return;
  }
  assert.is(built.code, 0, `kiln build failed:\n${built.stdout.slice(-4000)}\n${built.stderr.slice(-4000)}`);

  const mine = await unpackKilnImage(root, tag, caseWork);
  const mineTree = await listTree(mine.rootfs);
  const problems = checkPaths(known, mineTree);
  if (!known.buildkitSucceeds) {
    const dockerfile = meta.reference ? join(ctxDir, '.ref', meta.reference) : join(ctxDir, 'Dockerfile');
    const peerTag = `conformance-${name}:peer`;
    const peer = await buildah.build({ contextDir: ctxDir, dockerfile, tag: peerTag, buildArgs: meta.build_args });
    assert.is(peer.code, 0, `the peer (buildah) failed on the expected-result Dockerfile:\n${peer.output.slice(-3000)}`);
    await buildah.pushOci(peerTag, join(caseWork, 'peer-layout'));
    const theirs = await unpackLayout(join(caseWork, 'peer-layout'), join(caseWork, 'peer-bundle'));
    const expectedTree = expectedFromPeer(await listTree(theirs.rootfs), mineTree, known);
    const expectedConfig = { ...(await buildah.imageConfig(peerTag)), ...(known.config ?? {}) };
    problems.push(
      ...diffTrees(
        expectedTree,
        mineTree.filter((e) => !(e.path in (known.extraPaths ?? {}))),
      ),
    );
    problems.push(...diffConfigs(expectedConfig, mine.config));
  }
  assert.ok(problems.length === 0, `${name}: kiln differs from the expected result:\n  ${problems.slice(0, 40).join('\n  ')}`);
  await rm(caseWork, { recursive: true, force: true });
}

for (const name of caseNames) {
  const knownFailure = KNOWN_FAILURES[name];
  if (!knownFailure) {
    conformance(name, (ctx) => checkCase(name, ctx));
    continue;
  }
  // A strict expected failure: it must still fail, so a fix shows up as a failing test until the entry goes.
  conformance(`${name} (known failure: ${knownFailure})`, async (ctx) => {
    let failed = false;
    try {
      await checkCase(name, ctx);
    } catch (err) {
      failed = true;
      console.log(
        `  XFAIL ${name}: ${knownFailure}\n    ${String((err as Error).message)
          .split('\n')
          .slice(0, 6)
          .join('\n    ')}`,
      );
    }
    assert.ok(failed, `${name} passes now: remove it from KNOWN_FAILURES`);
  });
}

conformance('the conformance inputs are present', () => {
  assert.ok(filter !== '' || caseNames.length >= 80, `expected the shared conformance cases at ${CASES_DIR}`);
});

conformance.run();
