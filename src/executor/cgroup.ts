/**
 * cgroup v1 (cgroupfs, no systemd) paths of kiln's containers. Every container of one state root lives under
 * `/kiln-<hash of root>/<id>` in each hierarchy, so clean-up of one root never touches another's.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';

const CGROUP_FS = '/sys/fs/cgroup';

/** The parent cgroup name for a state root. */
export function cgroupParent(root: string): string {
  return `kiln-${createHash('sha256').update(root).digest('hex').slice(0, 12)}`;
}

/** runc's `linux.cgroupsPath` for a container. */
export function cgroupsPath(root: string, id: string): string {
  return `/${cgroupParent(root)}/${id}`;
}

/** Mounted v1 hierarchies (cpu, memory, pids, …), as directories. */
async function hierarchies(): Promise<string[]> {
  const names = await readdir(CGROUP_FS).catch(() => [] as string[]);
  return names.map((n) => join(CGROUP_FS, n));
}

/** Container ids with a cgroup under this root's parent, in any hierarchy. */
export async function listCgroups(root: string): Promise<string[]> {
  const ids = new Set<string>();
  for (const h of await hierarchies()) {
    for (const id of await readdir(join(h, cgroupParent(root))).catch(() => [] as string[])) {
      if (!id.includes('.') && !id.startsWith('cgroup') && !id.startsWith('tasks') && !id.startsWith('notify')) ids.add(id);
    }
  }
  return [...ids];
}

/** Kills what is left in a container's cgroups and removes them. Safe when they do not exist. */
export async function removeCgroup(root: string, id: string): Promise<void> {
  for (const h of await hierarchies()) {
    const dir = join(h, cgroupParent(root), id);
    const procs = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
    for (const pid of procs.split('\n').filter(Boolean)) {
      try { process.kill(Number(pid), 'SIGKILL'); } catch { /* already gone */ }
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

/** Removes this root's parent cgroups when no container is left in them (at start-up clean-up, never mid-run). */
export async function removeEmptyParent(root: string): Promise<void> {
  for (const h of await hierarchies()) await rmdir(join(h, cgroupParent(root))).catch(() => {});
}
