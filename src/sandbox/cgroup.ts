/**
 * cgroup v1 (cgroupfs, no systemd) paths of kiln's containers: `/kiln-<hash of root>-<id>` in each hierarchy.
 * Flat rather than nested under a per-root parent, so nothing is left once runc removes a container's own
 * cgroup (a parent would outlive every temporary root), and clean-up of one root never touches another's.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';

const CGROUP_FS = '/sys/fs/cgroup';

/** The cgroup name prefix for a state root. */
function cgroupPrefix(root: string): string {
  return `kiln-${createHash('sha256').update(root).digest('hex').slice(0, 12)}-`;
}

/** runc's `linux.cgroupsPath` for a container. */
export function cgroupsPath(root: string, id: string): string {
  return `/${cgroupPrefix(root)}${id}`;
}

/** Mounted v1 hierarchies (cpu, memory, pids, …), as directories. */
async function hierarchies(): Promise<string[]> {
  const names = await readdir(CGROUP_FS).catch(() => [] as string[]);
  return names.map((n) => join(CGROUP_FS, n));
}

/** Container ids with a cgroup of this root, in any hierarchy. */
export async function listCgroups(root: string): Promise<string[]> {
  const prefix = cgroupPrefix(root);
  const ids = new Set<string>();
  for (const h of await hierarchies()) {
    for (const name of await readdir(h).catch(() => [] as string[])) if (name.startsWith(prefix)) ids.add(name.slice(prefix.length));
  }
  return [...ids];
}

/** Kills what is left in a container's cgroups and removes them. Safe when they do not exist. */
export async function removeCgroup(root: string, id: string): Promise<void> {
  for (const h of await hierarchies()) {
    const dir = join(h, `${cgroupPrefix(root)}${id}`);
    const procs = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
    for (const pid of procs.split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    for (let i = 0; i < 50; i++) {
      try {
        await rmdir(dir);
        break;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') break;
        // EBUSY while killed processes are still exiting.
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }
}
