/**
 * A busybox rootfs for executor tests, built without the image store: /bin/busybox plus relative applet links,
 * /etc/passwd and /etc/group with a few users and groups, under a temp dir. `rootfsMounts()` gives a fresh
 * overlay over it, as the snapshotter would.
 */
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Mount } from '../../../src/cache/types.js';

export interface Fixture {
  dir: string;
  /** kiln state root for the test. */
  root: string;
  lower: string;
  /** A new upper/work pair over the busybox lower dir; returns the mounts and the upper dir. */
  rootfsMounts(): Promise<{ mounts: Mount[]; upper: string }>;
  dispose(): Promise<void>;
}

export const PASSWD =
  'root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n';
export const GROUP = 'root:x:0:\ndaemon:x:1:\nalice:x:1000:\nbob:x:1001:\nstaff:x:50:alice,bob\nwheel:x:10:alice\nnogroup:x:65534:\n';

/** Writes a busybox root filesystem into `dir`. */
export async function writeBusyboxTree(dir: string): Promise<void> {
  await mkdir(join(dir, 'bin'), { recursive: true });
  await mkdir(join(dir, 'etc'), { recursive: true });
  await mkdir(join(dir, 'tmp'), { recursive: true, mode: 0o1777 });
  await copyFile('/bin/busybox', join(dir, 'bin/busybox'));
  const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' })
    .split('\n')
    .filter((a) => a && a !== 'busybox');
  await Promise.all(applets.map((a) => symlink('busybox', join(dir, 'bin', a))));
  await writeFile(join(dir, 'etc/passwd'), PASSWD);
  await writeFile(join(dir, 'etc/group'), GROUP);
}

export async function createFixture(): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-exec-'));
  const lower = join(dir, 'lower');
  await writeBusyboxTree(lower);
  let n = 0;
  return {
    dir,
    root: join(dir, 'root'),
    lower,
    async rootfsMounts() {
      const s = join(dir, `s${n++}`);
      await mkdir(join(s, 'upper'), { recursive: true });
      await mkdir(join(s, 'work'), { recursive: true });
      return {
        upper: join(s, 'upper'),
        mounts: [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lower}`, `upperdir=${s}/upper`, `workdir=${s}/work`] }],
      };
    },
    async dispose() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}
