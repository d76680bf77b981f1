/**
 * Resolves a Docker `USER` string (`name`, `uid`, `uid:gid`, `name:group`) against the image's own
 * /etc/passwd and /etc/group, with Docker's rules (moby/sys/user GetExecUser): a numeric uid need not exist,
 * a name must; supplementary groups come from /etc/group only when no group was given.
 */
import { readImageTextFile } from './image-file.js';
import { KilnError } from '../errors.js';
import { resolveInRoot } from './secure-path.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  /** Home directory from passwd, for HOME; `/` when unknown. */
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}
interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 4) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    out.push({ name: f[0]!, uid, gid, home: f[5] || '/' });
  }
  return out;
}

function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 3) continue;
    const gid = Number(f[2]);
    if (!Number.isInteger(gid)) continue;
    out.push({
      name: f[0]!,
      gid,
      members: (f[3] ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    });
  }
  return out;
}

const isNumeric = (s: string) => /^\d+$/.test(s);

/** Pure resolution from the files' text (unit-testable). Throws USER_NOT_FOUND naming what is missing. */
export function resolveUserFrom(spec: string | undefined, passwdText: string, groupText: string): ResolvedUser {
  const [userArg = '', groupArg = ''] = (spec ?? '').split(':', 2) as [string?, string?];
  const passwd = parsePasswd(passwdText);
  const groups = parseGroup(groupText);
  let entry: PasswdEntry | undefined;
  let uid: number;
  let gid = 0;
  let home = '/';
  if (userArg === '') {
    entry = passwd.find((p) => p.uid === 0);
    uid = 0;
  } else if (isNumeric(userArg)) {
    uid = Number(userArg);
    entry = passwd.find((p) => p.uid === uid);
  } else {
    entry = passwd.find((p) => p.name === userArg);
    if (!entry) throw new KilnError('USER_NOT_FOUND', `unable to find user ${userArg}: no matching entries in passwd file`);
    uid = entry.uid;
  }
  if (entry) {
    gid = entry.gid;
    home = entry.home;
  }
  let additionalGids: number[] = [];
  if (groupArg !== '') {
    if (isNumeric(groupArg)) gid = Number(groupArg);
    else {
      const g = groups.find((x) => x.name === groupArg);
      if (!g) throw new KilnError('USER_NOT_FOUND', `unable to find group ${groupArg}: no matching entries in group file`);
      gid = g.gid;
    }
  } else if (entry) {
    additionalGids = groups.filter((g) => g.members.includes(entry!.name)).map((g) => g.gid);
  }
  // moby puts the primary group first in the supplementary list (`id` shows groups=0(root),10(wheel)).
  additionalGids = [...new Set([gid, ...additionalGids])];
  return { uid, gid, additionalGids, home };
}

async function readInRoot(root: string, path: string): Promise<string> {
  try {
    return readImageTextFile(root, await resolveInRoot(root, path), path) ?? '';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return '';
    throw err;
  }
}

/** Resolves `spec` inside the mounted rootfs `root`; throws USER_NOT_FOUND. */
export async function resolveUser(root: string, spec: string | undefined): Promise<ResolvedUser> {
  const [passwd, group] = await Promise.all([readInRoot(root, '/etc/passwd'), readInRoot(root, '/etc/group')]);
  return resolveUserFrom(spec, passwd, group);
}
