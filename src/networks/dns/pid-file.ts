/**
 * The DNS process's pid file, `<network dir>/dns.pid`: how the network code finds the process to stop it. Written
 * to a fresh temp name (O_EXCL|O_NOFOLLOW, so nothing planted there is followed) and renamed into place, so a
 * reader sees the whole pid or no file.
 */
import { closeSync, constants, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';

/** Writes `pid` to `path` atomically. */
export function writePidFile(path: string, pid: number): void {
  const tmp = `${path}.${pid}.tmp`;
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  try {
    writeSync(fd, `${pid}\n`);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** Removes `path` if it still names `pid` (a newer process for the same network may have replaced it). */
export function removePidFile(path: string, pid: number): void {
  try {
    const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    let text: string;
    try {
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
    if (text.trim() === String(pid)) unlinkSync(path);
  } catch {
    // Already gone with its directory.
  }
}
