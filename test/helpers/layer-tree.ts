/** Builds small file trees for layer tests (owners, modes, xattrs, links, devices) and lists them back. */
import { execFileSync } from 'node:child_process';
import {
  chownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
  chmodSync,
  lutimesSync,
} from 'node:fs';
import { join } from 'node:path';
import { getXattrs, makeNode, S_IFCHR, setXattr } from '../../src/native/fsx.js';

/** security.capability granting cap_net_bind_service+ep: binary, with NULs. */
export const CAP_NET_BIND = Buffer.from('0100000200040000000000000000000000000000', 'hex');

/** A tree with every kind of member kiln must keep (needs root: chown, mknod, trusted/security xattrs). */
export function makeRichTree(dir: string): void {
  mkdirSync(join(dir, 'usr/bin'), { recursive: true });
  writeFileSync(join(dir, 'usr/bin/ping'), 'ping binary');
  chmodSync(join(dir, 'usr/bin/ping'), 0o4755);
  setXattr(join(dir, 'usr/bin/ping'), 'security.capability', CAP_NET_BIND);
  setXattr(join(dir, 'usr/bin/ping'), 'user.note', Buffer.from([0, 255, 10, 61, 0]));
  linkSync(join(dir, 'usr/bin/ping'), join(dir, 'usr/bin/ping6'));
  symlinkSync('usr/bin', join(dir, 'bin'));
  writeFileSync(join(dir, 'nobody-file'), 'x');
  chownSync(join(dir, 'nobody-file'), 4294967294, 4294967294);
  const long = join(dir, 'l'.repeat(99), 'm'.repeat(99));
  mkdirSync(long, { recursive: true });
  writeFileSync(join(long, 'n'.repeat(200)), Buffer.alloc(70_000, 3));
  mkdirSync(join(dir, 'tmp'));
  chmodSync(join(dir, 'tmp'), 0o1777);
  makeNode(join(dir, 'null'), S_IFCHR | 0o666, 1, 3);
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  writeFileSync(join(dir, 'big'), Buffer.alloc(600_000, 9));
  chownSync(join(dir, 'big'), 1000, 1001);
}

/** Sets every mtime under `dir` (and `dir`) to `t` seconds, not following symlinks. */
export function setAllTimes(dir: string, t: number): void {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = lstatSync(p);
    if (st.isDirectory()) setAllTimes(p, t);
    else lutimesSync(p, t, t);
  }
  utimesSync(dir, t, t);
}

/** One line per path: type, mode, owner, size/target/device, xattrs (hex), content hash for files. */
export function listTree(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    const p = join(dir, r);
    const st = lstatSync(p);
    const x = getXattrs(p);
    const xs = x
      ? Object.keys(x)
          .sort()
          .map((k) => `${k}=${x[k]!.toString('hex')}`)
          .join(',')
      : '';
    let what = '';
    if (st.isFile()) what = `file ${st.size} ${readFileSync(p).subarray(0, 16).toString('hex')} nlink=${st.nlink}`;
    else if (st.isSymbolicLink()) what = `symlink -> ${readlinkSync(p)}`;
    else if (st.isDirectory()) what = 'dir';
    else if (st.isCharacterDevice()) what = `char ${st.rdev}`;
    else if (st.isFIFO()) what = 'fifo';
    out.push(`${r} ${what} mode=${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} mtime=${Math.floor(st.mtimeMs / 1000)} ${xs}`);
    if (st.isDirectory()) out.push(...listTree(dir, r));
  }
  return out;
}
