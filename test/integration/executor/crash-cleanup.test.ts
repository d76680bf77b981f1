/**
 * A kiln killed with SIGKILL while its container runs leaves runc's container, the overlay mount, the bundle,
 * cgroups and a network namespace behind; the next kiln start (any command calling cleanupStale) removes them.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listCgroups } from '../../../src/sandbox/cgroup.js';
import { cleanupStale } from '../../../src/sandbox/cleanup.js';
import { mountsUnder } from '../../../src/sandbox/mount.js';
import { runcList } from '../../../src/sandbox/runc.js';
import { kiln, REPO } from '../../helpers/kiln-cli.js';
import { waitFor } from '../../helpers/wait.js';

let dir = '';
let root = '';

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-crash-'));
  root = join(dir, 'root');
  assert.is((await kiln(['base', 'busybox'], { root })).code, 0);
});
test.after(async () => {
  await cleanupStale(root);
  await rm(dir, { recursive: true, force: true });
});

/** This root's container cgroups, in any hierarchy. */
const cgroupDirs = () => listCgroups(root);

for (const mode of ['foreground kiln run', 'detached supervisor'] as const) {
  test(`after SIGKILL of the ${mode}, the next start cleans mounts, bundles, runc state, cgroups and the network`, async () => {
    let victim: number;
    if (mode === 'foreground kiln run') {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', join(REPO, 'src/cli/dev.ts'), '--root', root, 'run', '--name', 'fg', 'busybox', 'sleep', '300'],
        { stdio: 'ignore', cwd: REPO },
      );
      victim = child.pid!;
      await waitFor('the container to run', async () => (await runcList(root)).some((c) => c.status === 'running'));
    } else {
      const r = await kiln(['run', '-d', '--name', 'bg', 'busybox', 'sleep', '300'], { root });
      assert.is(r.code, 0, r.stderr);
      const state = JSON.parse(await readFile(join(root, 'containers', r.stdout.trim(), 'state.json'), 'utf8'));
      victim = state.pid;
    }
    const [c] = await runcList(root);
    assert.ok(c, 'runc knows the container');
    const containerPid = c!.pid;
    process.kill(victim, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 200));

    // What the crash left behind.
    assert.ok((await mountsUnder(root)).length > 0, 'the rootfs is still mounted');
    assert.ok((await cgroupDirs()).length > 0, 'cgroups are still there');
    assert.ok(
      await stat(`/proc/${containerPid}`).then(
        () => true,
        () => false,
      ),
      'the container process still runs',
    );
    const netns = (await readdir('/run/netns').catch(() => [] as string[])).filter((n) => n === `kiln-${c!.id.slice(0, 16)}`);
    assert.is(netns.length, 1, 'its network namespace is still there');

    // The next start: any command runs clean-up first.
    const ps = await kiln(['ps', '-a'], { root });
    assert.is(ps.code, 0, ps.stderr);
    assert.match(ps.stdout, /Exited \(255\)/, 'the container shows as exited');
    assert.equal(await mountsUnder(root), [], 'mounts');
    assert.equal(await cgroupDirs(), [], 'cgroups');
    assert.equal(await runcList(root), [], 'runc state');
    assert.not.ok(
      await stat(`/proc/${containerPid}`).then(
        (s) => s.isDirectory(),
        () => false,
      ),
      'the container process is gone',
    );
    for (const id of await readdir(join(root, 'containers'))) {
      assert.not.ok(
        await stat(join(root, 'containers', id, 'bundle')).then(
          () => true,
          () => false,
        ),
        'bundle removed',
      );
    }
    assert.not.ok((await readdir('/run/netns').catch(() => [] as string[])).includes(`kiln-${c!.id.slice(0, 16)}`), 'netns removed');
    const leases = await readdir('/run/kiln/leases').catch(() => [] as string[]);
    for (const l of leases) assert.not.match(await readFile(join('/run/kiln/leases', l), 'utf8'), new RegExp(c!.id), 'lease released');
    assert.is((await kiln(['rm', mode === 'foreground kiln run' ? 'fg' : 'bg'], { root })).code, 0);
    assert.equal(await readdir(join(root, 'containers')), []);
  });
}

test.run();
