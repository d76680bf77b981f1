/**
 * kiln's one root-confined path resolver. Every path that comes from a Dockerfile, a context, an archive, an image
 * layer or an API request is resolved inside its own root as if that root were `/`: symlinks are followed but
 * clamped to the root (an absolute target restarts at the root, `..` stops at it), as BuildKit's
 * `FollowSymlinkInScope` and openat2's RESOLVE_IN_ROOT do. One rule set for every caller:
 *
 * - Linux's limits: more than 40 symlinks is ELOOP (UNSAFE_PATH), a path of 4096 bytes or more, a component over
 *   255 bytes, or a resolved host path past PATH_MAX is PATH_TOO_LONG. A hostile path fails fast and clearly
 *   instead of running for minutes.
 * - Only ENOENT and ENOTDIR mean "absent"; EACCES, ELOOP and the rest are errors, never read as a missing file.
 * - Linear: each component costs O(1) work plus one lstat (and one readlink per link); nothing re-resolves a
 *   prefix. With the bounds above, the total work for any input is bounded.
 * - The async form checks its AbortSignal before every system call, so a deep path can be cancelled.
 * - `noSymlinks` refuses any symlink on the way (openat2's RESOLVE_NO_SYMLINKS), for roots that must not hold
 *   links at all (a context being unpacked).
 * - `create` makes missing directories on the way (`mkdir -p` inside the root), following symlinks in scope: a
 *   `WORKDIR /link/new` with `link -> /a/b` creates `/a/b/new` inside the root, as BuildKit does.
 *
 * The walk is written once, as a generator of system-call requests; a synchronous and an asynchronous driver run it.
 * Messages name the path as the caller gave it, never the host path (which would leak kiln's internal layout).
 */
import { lstatSync, mkdirSync, readlinkSync, type Stats } from 'node:fs';
import { lstat, mkdir, readlink } from 'node:fs/promises';
import { KilnError } from '../errors.js';

/** Linux's PATH_MAX: a path (with its NUL) must fit in 4096 bytes. */
export const PATH_MAX = 4096;
/** Linux's NAME_MAX: one component is at most 255 bytes. */
export const NAME_MAX = 255;
/** Linux's MAXSYMLINKS: the 41st symlink followed while resolving one path is ELOOP. */
export const MAX_SYMLINKS = 40;

export interface InRootOptions {
  /** Follow a symlink in the last component too (default true). False resolves the parents only. */
  followFinal?: boolean;
  /** Refuse every symlink met on the way (the last component too when `followFinal`), with UNSAFE_PATH. */
  noSymlinks?: boolean;
  /** Create missing directories on the way (and the last component), with this mode (default 0o755). */
  create?: boolean | { mode?: number };
  /** Called with each directory `create` made, in order (to chown it, say). Its host path is inside the root. */
  onCreate?: (hostPath: string) => void | Promise<void>;
  /** Async form only: checked before every system call. Abort throws CANCELLED. */
  signal?: AbortSignal;
  /** How the path is named in messages (default: the path itself, quoted). */
  what?: string;
}

export interface InRootResult {
  /** The host path, inside the root (the root itself for `/`). */
  path: string;
  /** The same path as seen from inside the root: absolute, clean, symlinks resolved. */
  inner: string;
  /** lstat of `path` when it exists (for a final symlink kept by `followFinal: false`, the link's own). */
  stat?: Stats;
}

type Request = { op: 'lstat'; path: string } | { op: 'readlink'; path: string } | { op: 'mkdir'; path: string; mode: number } | { op: 'created'; path: string };

/** The walk; yields system-call requests and receives their results (lstat: Stats | undefined for absent). */
function* walk(root: string, unsafePath: string, o: InRootOptions, what: string): Generator<Request, InRootResult, unknown> {
  if (unsafePath.includes('\0')) throw new KilnError('UNSAFE_PATH', `${what}: path contains a NUL byte`);
  if (Buffer.byteLength(unsafePath) >= PATH_MAX) {
    throw new KilnError('PATH_TOO_LONG', `${what}: path is longer than ${PATH_MAX - 1} bytes (Linux's PATH_MAX)`, { details: { errno: 'ENAMETOOLONG' } });
  }
  const followFinal = o.followFinal ?? true;
  const create = o.create ? { mode: (typeof o.create === 'object' ? o.create.mode : undefined) ?? 0o755 } : undefined;
  const base = root.replace(/\/+$/, '') || '';
  // Components still to walk, last one first, so taking the next is a pop: O(1), not a shift.
  const pending = components(unsafePath).reverse();
  // The resolved prefix as a host path, and the string length of each prefix so `..` is O(1) too.
  let cur = base;
  const lens: number[] = [];
  let links = 0;
  let absent = false;
  let finalStat: Stats | undefined;
  while (pending.length > 0) {
    const part = pending.pop()!;
    if (part === '.') continue;
    if (part === '..') {
      if (lens.length > 0) cur = cur.slice(0, lens.pop());
      finalStat = undefined;
      continue;
    }
    if (Buffer.byteLength(part) > NAME_MAX) {
      throw new KilnError('PATH_TOO_LONG', `${what}: a component is longer than ${NAME_MAX} bytes (Linux's NAME_MAX)`, { details: { errno: 'ENAMETOOLONG' } });
    }
    const next = `${cur}/${part}`;
    if (next.length >= PATH_MAX) {
      throw new KilnError('PATH_TOO_LONG', `${what}: resolves to a path longer than ${PATH_MAX - 1} bytes (Linux's PATH_MAX)`, {
        details: { errno: 'ENAMETOOLONG' },
      });
    }
    const last = pending.length === 0;
    if (absent && !create) {
      // Below a missing component nothing can be a link: the rest is appended as written (`..` still applies).
      lens.push(cur.length);
      cur = next;
      continue;
    }
    let st = (yield { op: 'lstat', path: next }) as Stats | undefined;
    if (!st && create) {
      yield { op: 'mkdir', path: next, mode: create.mode };
      yield { op: 'created', path: next };
      st = (yield { op: 'lstat', path: next }) as Stats | undefined;
    }
    if (!st) {
      absent = true;
      finalStat = undefined;
      lens.push(cur.length);
      cur = next;
      continue;
    }
    if (st.isSymbolicLink() && (followFinal || !last)) {
      if (o.noSymlinks) throw new KilnError('UNSAFE_PATH', `${what}: "${part}" is a symbolic link, which is not allowed here`);
      if (++links > MAX_SYMLINKS) {
        throw new KilnError('UNSAFE_PATH', `${what}: too many symlinks (ELOOP: more than ${MAX_SYMLINKS} levels of symbolic links)`, {
          details: { errno: 'ELOOP' },
        });
      }
      const target = (yield { op: 'readlink', path: next }) as string;
      if (target.startsWith('/')) {
        cur = base;
        lens.length = 0;
      }
      const more = components(target);
      for (let i = more.length - 1; i >= 0; i--) pending.push(more[i]!);
      if (pending.length > 2 * PATH_MAX) {
        // Each link adds at most PATH_MAX/2 components and at most 40 links are followed; this only catches a bug.
        throw new KilnError('PATH_TOO_LONG', `${what}: symlinks expand to too many components`);
      }
      finalStat = undefined;
      continue;
    }
    if (create && last && !st.isDirectory() && !(st.isSymbolicLink() && !followFinal)) {
      throw new KilnError('INVALID_ARGUMENT', `${what}: "${inner(next, base)}" exists and is not a directory`, { details: { errno: 'ENOTDIR' } });
    }
    if (!last && !st.isDirectory() && !st.isSymbolicLink()) {
      if (create)
        throw new KilnError('INVALID_ARGUMENT', `${what}: "${inner(cur, base)}/${part}" exists and is not a directory`, { details: { errno: 'ENOTDIR' } });
      // As Linux: a non-directory in the middle makes the rest absent (ENOTDIR).
      absent = true;
    }
    finalStat = absent ? undefined : st;
    lens.push(cur.length);
    cur = next;
  }
  if (lens.length === 0 && !absent) finalStat = (yield { op: 'lstat', path: cur || '/' }) as Stats | undefined;
  return { path: cur === '' ? '/' : cur, inner: inner(cur, base), stat: absent ? undefined : finalStat };
}

function inner(cur: string, base: string): string {
  return cur.slice(base.length) || '/';
}

/** `/a//b/./c/` → `['a','b','.','c']`: empty parts dropped; `.` and `..` kept for the walk. */
function components(p: string): string[] {
  return p.split('/').filter((s) => s !== '');
}

function isAbsent(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** A system error met on the way, as a KilnError naming the caller's path (never the host path). */
function systemError(err: unknown, what: string, op: string): KilnError {
  if (err instanceof KilnError) return err;
  const code = (err as NodeJS.ErrnoException)?.code ?? 'EIO';
  const text: Record<string, [string, ConstructorParameters<typeof KilnError>[0]]> = {
    EACCES: ['permission denied', 'PRECONDITION'],
    EPERM: ['operation not permitted', 'PRECONDITION'],
    ELOOP: ['too many levels of symbolic links', 'UNSAFE_PATH'],
    ENAMETOOLONG: ['file name too long', 'PATH_TOO_LONG'],
    ENOSPC: ['no space left on device', 'NO_SPACE'],
    EDQUOT: ['disk quota exceeded', 'NO_SPACE'],
    EROFS: ['read-only file system', 'PRECONDITION'],
    ENOTDIR: ['not a directory', 'INVALID_ARGUMENT'],
    EEXIST: ['exists and is not a directory', 'INVALID_ARGUMENT'],
  };
  const [msg, kcode] = text[code] ?? [`${op} failed (${code})`, 'INTERNAL'];
  return new KilnError(kcode, `${what}: ${msg}`, { cause: err, details: { errno: code } });
}

function nameOf(unsafePath: string, o: InRootOptions): string {
  return o.what ?? JSON.stringify(unsafePath.length > 200 ? `${unsafePath.slice(0, 200)}…` : unsafePath);
}

/**
 * Resolves `unsafePath` (absolute, or relative to the root) inside `root`; synchronous. Missing components are kept
 * as written (so a destination to be created resolves too) unless `create` makes them. Throws UNSAFE_PATH (a loop,
 * a refused symlink), PATH_TOO_LONG, and a coded error for any failure other than "absent".
 */
export function resolveInRootSync(root: string, unsafePath: string, opts: InRootOptions = {}): InRootResult {
  if (opts.signal?.aborted) throw new KilnError('CANCELLED', 'cancelled', { cause: opts.signal.reason });
  const what = nameOf(unsafePath, opts);
  const gen = walk(root, unsafePath, opts, what);
  let reply: unknown;
  for (;;) {
    const step = gen.next(reply);
    if (step.done) return step.value;
    const req = step.value;
    try {
      reply = runSync(req);
    } catch (err) {
      throw systemError(err, what, req.op);
    }
    if (req.op === 'created' && opts.onCreate) {
      const r = opts.onCreate(req.path);
      if (r && typeof (r as Promise<void>).then === 'function') throw new Error('resolveInRootSync: onCreate must be synchronous');
    }
  }
}

function runSync(req: Request): unknown {
  switch (req.op) {
    case 'lstat':
      try {
        return lstatSync(req.path);
      } catch (err) {
        if (isAbsent(err)) return undefined;
        throw err;
      }
    case 'readlink':
      return readlinkSync(req.path);
    case 'mkdir':
      return mkdirSync(req.path, { mode: req.mode });
    case 'created':
      return undefined;
  }
}

/** The asynchronous form of `resolveInRootSync`; checks `opts.signal` before every system call. */
export async function resolveInRoot(root: string, unsafePath: string, opts: InRootOptions = {}): Promise<InRootResult> {
  const what = nameOf(unsafePath, opts);
  const gen = walk(root, unsafePath, opts, what);
  let reply: unknown;
  for (;;) {
    if (opts.signal?.aborted) throw new KilnError('CANCELLED', `${what}: cancelled`, { cause: opts.signal.reason });
    const step = gen.next(reply);
    if (step.done) return step.value;
    const req = step.value;
    try {
      reply = await runAsync(req);
    } catch (err) {
      throw systemError(err, what, req.op);
    }
    if (req.op === 'created') await opts.onCreate?.(req.path);
  }
}

async function runAsync(req: Request): Promise<unknown> {
  switch (req.op) {
    case 'lstat':
      return lstat(req.path).catch((err: unknown) => {
        if (isAbsent(err)) return undefined;
        throw err;
      });
    case 'readlink':
      return readlink(req.path);
    case 'mkdir':
      return mkdir(req.path, { mode: req.mode });
    case 'created':
      return undefined;
  }
}

/** `mkdir -p` inside a root: creates every missing directory of `unsafePath` (symlinks followed in scope). */
export function mkdirInRoot(root: string, unsafePath: string, opts: Omit<InRootOptions, 'create'> & { mode?: number } = {}): Promise<InRootResult> {
  return resolveInRoot(root, unsafePath, { ...opts, create: { mode: opts.mode } });
}
