/**
 * Docker's volume copy-up: the first time an empty volume is mounted, the image's files at the mount target are
 * copied into it (owners, modes, symlinks as symlinks, and the directory's own owner and mode). The source is
 * resolved inside the rootfs (an image whose `/data` is a symlink to `/etc` gives its own `/etc`, never the
 * host's), and nothing is dereferenced while copying (`cp -a` copies links as links).
 *
 * A plain volume's files are copied into a staging directory beside `_data` (which no container sees) and then
 * renamed in: another container sharing the volume cannot plant a symlink under the copy while it runs, and a
 * rename replaces a link rather than following it. A bind-backed volume (its device on another filesystem) is
 * copied in place.
 */
import { randomBytes } from 'node:crypto';
import { chmod, chown, lstat, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { KilnError } from '../errors.js';
import { resolveInRoot } from './secure-path.js';
import { tool } from './tool.js';

/** Copies the image's files at `target` into the empty volume directory `volume`; does nothing when it has files. */
export async function copyUp(rootfs: string, target: string, volume: string): Promise<void> {
  if ((await readdir(volume).catch(() => ['?'])).length > 0) return;
  const from = await resolveInRoot(rootfs, target);
  const st = await lstat(from).catch(() => undefined);
  if (!st?.isDirectory()) return;
  if (basename(volume) !== '_data') {
    await cp(from, volume, target);
    return;
  }
  const stage = join(dirname(volume), `.populate-${randomBytes(6).toString('hex')}`);
  await mkdir(stage, { mode: 0o700 });
  try {
    await cp(from, stage, target);
    for (const name of await readdir(stage)) {
      // A name a sharing container created meanwhile wins (a non-empty directory refuses the rename).
      await rename(join(stage, name), join(volume, name)).catch(() => {});
    }
    const s = await lstat(stage);
    await chown(volume, s.uid, s.gid);
    await chmod(volume, s.mode & 0o7777);
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

async function cp(from: string, to: string, target: string): Promise<void> {
  const r = await tool('cp', ['-a', '--', `${from}/.`, to]);
  if (r.code !== 0) throw new KilnError('MOUNT_FAILED', `copying ${target} into its volume: ${r.stderr.trim()}`);
}
