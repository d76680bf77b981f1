/**
 * The host's device nodes, for `--privileged` (Docker gives a privileged container every host device, as
 * runc's libcontainer/devices.HostDevices lists them): character and block devices under /dev, skipping the
 * per-container file systems (`pts`, `shm`, `mqueue`, `fd`) and `/dev/console`, which the container has its own of.
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface HostDevice {
  path: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  fileMode: number;
  uid: number;
  gid: number;
}

const SKIP_DIRS = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev']);

/** Linux's dev_t encoding (glibc's gnu_dev_major/minor), in BigInt: st_rdev can exceed 2^32. */
export function splitRdev(rdev: number | bigint): [number, number] {
  const d = BigInt(rdev);
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & 0xfffff000n);
  const minor = (d & 0xffn) | ((d >> 12n) & 0xffffff00n);
  return [Number(major), Number(minor)];
}

export async function hostDevices(dir = '/dev'): Promise<HostDevice[]> {
  const out: HostDevice[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const name of (await readdir(d).catch(() => [] as string[])).sort()) {
      const p = join(d, name);
      const st = await lstat(p).catch(() => undefined);
      if (!st) continue;
      if (st.isDirectory()) {
        if (!SKIP_DIRS.has(name)) await walk(p);
        continue;
      }
      if (p === '/dev/console' || !(st.isCharacterDevice() || st.isBlockDevice())) continue;
      const [major, minor] = splitRdev(st.rdev);
      out.push({ path: p, type: st.isBlockDevice() ? 'b' : 'c', major, minor, fileMode: st.mode & 0o7777, uid: st.uid, gid: st.gid });
    }
  };
  await walk(dir);
  return out;
}
