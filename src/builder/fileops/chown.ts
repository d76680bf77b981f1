/**
 * `--chown=user[:group]` for COPY/ADD, and the owner of the directories WORKDIR creates (from USER), resolved the
 * way BuildKit's file op does (llb.WithUser, then readUser): names are looked up in the DESTINATION rootfs's
 * /etc/passwd and /etc/group (read confined to that root), numbers are taken as they are, and a user given alone
 * also sets the group — the user's primary group for a name, the same number for a number (even when passwd
 * lists that uid with another group, and when it does not list it at all). This differs on purpose from RUN's
 * process user (sandbox/user.ts, moby's GetExecUser), where a numeric uid takes its passwd group or 0.
 * Where kiln differs from BuildKit: a name missing from passwd/group is an error (USER_NOT_FOUND), where
 * BuildKit silently uses 0.
 */
import { isKilnError, KilnError } from '../../errors.js';
import { readImageTextFile } from '../../sandbox/image-file.js';
import { resolveInRoot } from './root-path.js';

/** A numeric owner. */
export interface Owner {
  uid: number;
  gid: number;
}

const NUMERIC = /^[0-9]+$/;

/**
 * Resolves a `--chown` value against the rootfs at `root` (a host directory). Throws USER_NOT_FOUND naming the
 * missing user or group, INVALID_ARGUMENT for an empty or malformed value.
 */
export function resolveChown(spec: string, root: string, what = '--chown'): Owner {
  const [user, group, extra] = spec.split(':');
  if (extra !== undefined || user === undefined || (user === '' && (group === undefined || group === ''))) {
    throw new KilnError('INVALID_ARGUMENT', `invalid ${what} value ${JSON.stringify(spec)}`, { hint: 'use user[:group], names or numeric ids' });
  }
  let uid = 0;
  let gid = 0;
  if (user !== '') {
    if (NUMERIC.test(user)) {
      uid = checkId(user, spec, what);
      gid = uid;
    } else {
      const row = readDb(root, '/etc/passwd').find((f) => f[0] === user);
      if (!row) throw new KilnError('USER_NOT_FOUND', `unable to find user ${user}: no matching entries in the destination's /etc/passwd`);
      uid = checkId(row[2], spec, what);
      gid = checkId(row[3], spec, what);
    }
  }
  if (group !== undefined && group !== '') {
    if (NUMERIC.test(group)) gid = checkId(group, spec, what);
    else {
      const row = readDb(root, '/etc/group').find((f) => f[0] === group);
      if (!row) throw new KilnError('USER_NOT_FOUND', `unable to find group ${group}: no matching entries in the destination's /etc/group`);
      gid = checkId(row[2], spec, what);
    }
  }
  return { uid, gid };
}

function checkId(s: string | undefined, spec: string, what: string): number {
  const n = Number(s);
  if (s === undefined || !NUMERIC.test(s) || n > 0xfffffffe) {
    throw new KilnError('INVALID_ARGUMENT', `invalid id in ${what} ${JSON.stringify(spec)}`);
  }
  return n;
}

/** Colon-separated rows of a passwd-style file inside `root`; a missing file has no rows. */
function readDb(root: string, file: string): string[][] {
  let text: string | undefined;
  try {
    text = readImageTextFile(root, resolveInRoot(root, file), file);
  } catch (err) {
    // A FIFO or device where the database should be is refused (never opened); other read errors mean no rows.
    if (isKilnError(err) && err.code === 'UNSAFE_PATH') throw err;
    return [];
  }
  if (text === undefined) return [];
  return text
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.split(':'));
}
