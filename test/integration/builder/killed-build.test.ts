/**
 * A `kiln build` killed (SIGKILL) in the middle of a RUN leaves a running runc container, its cgroups, the rootfs
 * mount and the bundle behind; the next build on the same root removes them before it starts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBusyboxImage } from '../../../src/cache/busybox-image.js';
import { openRoot } from '../../../src/cache/root.js';
import { cleanupStale } from '../../../src/sandbox/cleanup.js';
import { unmountAll } from '../../../src/sandbox/mount.js';
import { kiln, REPO } from '../../helpers/kiln-cli.js';

const DEV_ENTRY = fileURLToPath(new URL('../../../src/cli/dev.ts', import.meta.url));

let dir: string;
let rootDir: string;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-killed-'));
  rootDir = join(dir, 'root');
  const root = await openRoot(rootDir);
  await ensureBusyboxImage(root, 'busybox:latest');
  await root.close();
});
test.after(async () => {
  // Whatever the test left (it failed half-way): the executor's own sweep, then the mounts, then the files.
  await cleanupStale(rootDir).catch(() => {});
  await unmountAll(dir).catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

const runcList = () =>
  JSON.parse(execFileSync('runc', ['--root', join(rootDir, 'runc'), 'list', '--format', 'json'], { encoding: 'utf8' }) || '[]') as Array<{
    id: string;
    status: string;
  }> | null;
const mountsUnderRoot = async () =>
  (await readFile('/proc/mounts', 'utf8'))
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((p) => p.startsWith(`${rootDir}/`));
const bundles = async () => {
  const out: string[] = [];
  for (const id of await readdir(join(rootDir, 'containers')).catch(() => [] as string[])) {
    if ((await readdir(join(rootDir, 'containers', id)).catch(() => [] as string[])).includes('bundle')) out.push(id);
  }
  return out;
};

async function until(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('a build killed during a RUN leaves no runc container, mount or bundle once the next build opens the root', async () => {
  const slow = join(dir, 'slow');
  await mkdir(slow);
  await writeFile(join(slow, 'Dockerfile'), 'FROM busybox\nRUN sleep 30\n');
  const child = spawn(process.execPath, ['--import', 'tsx', DEV_ENTRY, '--root', rootDir, 'build', '--progress', 'plain', slow], {
    cwd: REPO,
    stdio: 'ignore',
  });
  const exited = new Promise((r) => child.on('close', r));
  try {
    await until('the RUN container to run', async () => (runcList() ?? []).some((c) => c.status === 'running'));
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
  // What the kill left: these are what the next build must clean.
  assert.ok((runcList() ?? []).length > 0, 'runc container left');
  assert.ok((await mountsUnderRoot()).length > 0, 'rootfs mount left');
  assert.ok((await bundles()).length > 0, 'bundle left');

  const quick = join(dir, 'quick');
  await mkdir(quick);
  await writeFile(join(quick, 'Dockerfile'), 'FROM busybox\nLABEL ok=1\n');
  const r = await kiln(['build', '-q', quick], { root: rootDir });
  assert.is(r.code, 0, r.stderr);
  assert.equal(runcList() ?? [], []);
  assert.equal(await mountsUnderRoot(), []);
  assert.equal(await bundles(), []);
});

test.run();
