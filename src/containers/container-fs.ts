/**
 * `docker cp` and `docker export` on kiln's containers: stat a container path (`HEAD /containers/{id}/archive`),
 * tar it out (`GET …/archive`), extract an uploaded tar into a container directory (`PUT …/archive`), and tar the
 * whole merged root (`GET …/export`). Paths are resolved as the container sees them (container-root.ts), never
 * out to the host; uploaded members stay below the extraction directory (no `..`, no writing through a symlink
 * out), as Docker's chrooted archiver keeps them.
 */
import { lstatSync, readlinkSync, type Stats } from 'node:fs';
import { posix } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createApplier } from '../cache/apply-layer.js';
import { KilnError } from '../errors.js';
import { emitEvent } from '../events/events.js';
import { createDecompressStream } from '../layers/compression.js';
import { layerEntries } from '../layers/layer-diff.js';
import { splitDev } from '../native/fsx.js';
import { resolveUser } from '../sandbox/user.js';
import { cleanMemberName, RootResolver } from '../tar/confine.js';
import { readTar } from '../tar/reader.js';
import { packTar, type TarInput } from '../tar/writer.js';
import { cleanContainerPath, resolveContainerPath, withContainerRoot, type ContainerRootView } from './container-root.js';
import type { ContainerRecord } from './containers.js';
import type { ContainerMount } from '../sandbox/types.js';

/** Docker's ContainerPathStat (`X-Docker-Container-Path-Stat`): `mode` holds Go's os.FileMode bits. */
export interface ContainerPathStat {
  name: string;
  size: number;
  mode: number;
  /** RFC 3339. */
  mtime: string;
  /** For a symlink: where it leads inside the container, fully resolved; else empty. */
  linkTarget: string;
}

// Go's os.FileMode type bits (2 ** n: JavaScript's `1 << 31` is negative).
const GO_DIR = 2 ** 31;
const GO_SYMLINK = 2 ** 27;
const GO_DEVICE = 2 ** 26;
const GO_PIPE = 2 ** 25;
const GO_SOCKET = 2 ** 24;
const GO_SETUID = 2 ** 23;
const GO_SETGID = 2 ** 22;
const GO_CHARDEV = 2 ** 21;
const GO_STICKY = 2 ** 20;

/** A Node lstat mode as Go's os.FileMode (what the docker CLI decodes). */
export function goFileMode(st: Stats): number {
  let m = st.mode & 0o777;
  if (st.mode & 0o4000) m += GO_SETUID;
  if (st.mode & 0o2000) m += GO_SETGID;
  if (st.mode & 0o1000) m += GO_STICKY;
  if (st.isDirectory()) m += GO_DIR;
  else if (st.isSymbolicLink()) m += GO_SYMLINK;
  else if (st.isCharacterDevice()) m += GO_DEVICE + GO_CHARDEV;
  else if (st.isBlockDevice()) m += GO_DEVICE;
  else if (st.isFIFO()) m += GO_PIPE;
  else if (st.isSocket()) m += GO_SOCKET;
  return m;
}

/** Go's filepath.Base: `/a/b/` → `b`, `/a/b/.` → `.`, `/` → `/`. */
function goBase(p: string): string {
  const t = p.replace(/\/+$/, '');
  if (t === '') return '/';
  return t.slice(t.lastIndexOf('/') + 1);
}

/** A trailing `/` or `/.` names the directory itself, its last component followed (Docker's ResolvePath). */
function followsFinal(path: string): boolean {
  return path.endsWith('/') || path.endsWith('/.') || path === '.';
}

/** dockerd's container events for these operations (`archive-path`, `extract-to-dir`, `export`). */
function event(root: string, rec: ContainerRecord, action: string): void {
  emitEvent(root, 'container', action, rec.id, { ...(rec.labels ?? {}), name: rec.name, image: rec.image });
}

function notFound(rec: ContainerRecord, path: string): KilnError {
  return new KilnError('NOT_FOUND', `Could not find the file ${path} in container ${rec.name}`);
}

async function statIn(view: ContainerRootView, rec: ContainerRecord, path: string) {
  const r = await resolveContainerPath(view, path, { followFinal: followsFinal(path) });
  if (!r.stat) throw notFound(rec, path);
  let linkTarget = '';
  if (r.stat.isSymbolicLink()) linkTarget = (await resolveContainerPath(view, path, { followFinal: true })).inner;
  const stat: ContainerPathStat = {
    name: goBase(cleanContainerPath(path) === '/' ? '/' : path),
    size: r.stat.size,
    mode: goFileMode(r.stat),
    mtime: r.stat.mtime.toISOString(),
    linkTarget,
  };
  return { resolved: r, stat };
}

/** `HEAD /containers/{id}/archive?path=`: the path's stat; NOT_FOUND when absent. */
export async function statContainerPath(root: string, rec: ContainerRecord, path: string): Promise<ContainerPathStat> {
  checkPath(path);
  return withContainerRoot(root, rec, async (view) => (await statIn(view, rec, path)).stat);
}

function checkPath(path: string): void {
  if (!path) throw new KilnError('INVALID_ARGUMENT', 'path is required');
  if (path.includes('\0')) throw new KilnError('INVALID_ARGUMENT', 'path contains a NUL byte');
}

/** The members of `host` (whose lstat is `st`) named `name` and below: one member, or a directory's whole tree. */
function* pathEntries(host: string, st: Stats, name: string): Generator<TarInput> {
  const base: TarInput = { name, type: 'file', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: 0, mtime: Math.floor(st.mtimeMs / 1000) };
  if (st.isDirectory()) {
    yield { ...base, type: 'dir' };
    for (const e of layerEntries(host, { mode: 'plain' })) {
      const out: TarInput = { ...e, name: `${name}/${e.name}` };
      if (e.type === 'link' && e.linkname !== undefined) out.linkname = `${name}/${e.linkname}`;
      yield out;
    }
  } else if (st.isFile()) yield { ...base, size: st.size, source: host };
  else if (st.isSymbolicLink()) yield { ...base, type: 'symlink', linkname: readlinkSync(host) };
  else if (st.isCharacterDevice() || st.isBlockDevice()) {
    const [devmajor, devminor] = splitDev(st.rdev);
    yield { ...base, type: st.isCharacterDevice() ? 'char' : 'block', devmajor, devminor };
  } else if (st.isFIFO()) yield { ...base, type: 'fifo' };
  else throw new KilnError('INVALID_ARGUMENT', `${name}: a socket cannot be archived`);
}

/**
 * The members of `host` (container path `inner`, named `name`) as the container sees the tree: a volume or bind
 * mounted below it replaces what the underlying file system holds there (its files come from the mount's source,
 * nested mounts likewise), and below a tmpfs mount point nothing is listed (its files live only in the container).
 */
function* splicedEntries(mounts: ContainerMount[], host: string, st: Stats, inner: string, name: string): Generator<TarInput> {
  const prefix = inner === '/' ? '/' : `${inner}/`;
  const below = st.isDirectory() ? mounts.map((m) => ({ m, t: cleanContainerPath(m.target) })).filter(({ t }) => t.startsWith(prefix)) : [];
  // Only the outermost mounts below `inner`: nested ones are spliced when their parent mount is walked.
  const direct = below.filter(({ t }) => !below.some((o) => o.t !== t && t.startsWith(`${o.t}/`)));
  if (direct.length === 0) return yield* pathEntries(host, st, name);
  const rel = direct.map(({ m, t }) => ({ m, t, at: `${name}/${t.slice(prefix.length)}` }));
  for (const e of pathEntries(host, st, name)) {
    const hidden = rel.some(({ m, at }) => e.name.startsWith(`${at}/`) || (e.name === at && m.type === 'bind' && m.source));
    if (!hidden) yield e;
  }
  for (const { m, t, at } of rel) {
    if (m.type !== 'bind' || !m.source) continue;
    const mst = lstatSync(m.source, { throwIfNoEntry: false });
    if (mst) yield* splicedEntries(mounts, m.source, mst, t, at);
  }
}

/**
 * `GET /containers/{id}/archive?path=`: calls `open` with the stat (the response's header) and streams the tar of
 * the path into what it returns. Members are named as Docker names them: `name`, `name/…` for `/a/name`, `./…` for
 * `/a/name/.` (the directory's contents). The container stays frozen (running) or mounted (stopped) until the last
 * byte is written.
 */
export async function archiveContainerPath(
  root: string,
  rec: ContainerRecord,
  path: string,
  open: (stat: ContainerPathStat) => Writable,
  opts: { signal?: AbortSignal } = {},
): Promise<void> {
  checkPath(path);
  await withContainerRoot(root, rec, async (view) => {
    const { resolved, stat } = await statIn(view, rec, path);
    const name = stat.name === '/' ? '.' : stat.name;
    const out = open(stat);
    const entries = splicedEntries(view.mounts, resolved.host, resolved.stat!, resolved.inner, name);
    await pipeline(packTar(entries, { signal: opts.signal }), out, { signal: opts.signal });
  });
  event(root, rec, 'archive-path');
}

/**
 * `GET /containers/{id}/export`: the container's whole merged root filesystem (without its volumes) as a tar, into
 * what `open` returns once the root is reachable.
 */
export async function exportContainer(root: string, rec: ContainerRecord, open: () => Writable, opts: { signal?: AbortSignal } = {}): Promise<void> {
  await withContainerRoot(root, rec, async (view) => {
    const out = open();
    await pipeline(packTar(layerEntries(view.rootfs, { mode: 'plain', signal: opts.signal }), { signal: opts.signal }), out, { signal: opts.signal });
  });
  event(root, rec, 'export');
}

export interface ExtractOptions {
  /** `noOverwriteDirNonDir`: refuse to replace a directory with a non-directory or the reverse. */
  noOverwriteDirNonDir?: boolean;
  /** `copyUIDGID` (`docker cp -a`): files get the container user's uid/gid (the archive's when it has no user). */
  copyUIDGID?: boolean;
  signal?: AbortSignal;
}

/**
 * `PUT /containers/{id}/archive?path=`: extracts the tar `input` into the container directory `path` (its last
 * component followed, as Docker does, so a symlink to a directory works). Throws NOT_FOUND (no such directory),
 * INVALID_ARGUMENT (not a directory, a dir/non-dir clash with `noOverwriteDirNonDir`), PRECONDITION (read-only
 * rootfs or volume), UNSAFE_PATH (a member climbing out of the directory).
 */
export async function extractToContainer(root: string, rec: ContainerRecord, path: string, input: Readable, opts: ExtractOptions = {}): Promise<void> {
  checkPath(path);
  await withContainerRoot(root, rec, async (view) => {
    const r = await resolveContainerPath(view, path, { followFinal: true });
    if (!r.stat) throw notFound(rec, path);
    if (!r.stat.isDirectory()) throw new KilnError('INVALID_ARGUMENT', `extraction point is not a directory: ${path}`);
    if (r.mount?.readonly) throw new KilnError('PRECONDITION', `mounted volume is marked read-only: ${r.mount.target}`);
    if (!r.mount && view.readonlyRootfs) throw new KilnError('PRECONDITION', 'container rootfs is marked read-only');
    let owner: { uid: number; gid: number } | undefined;
    if (opts.copyUIDGID && rec.spec.process.user) {
      const u = await resolveUser(view.rootfs, rec.spec.process.user);
      owner = { uid: u.uid, gid: u.gid };
    }
    // Members are placed relative to the file system holding the directory, so a symlink inside the container
    // (`/lib -> /usr/lib`) leads where the container sees it; cleanMemberName first keeps each one below `path`.
    const prefix = posix.relative(r.baseTarget, r.inner);
    const where = `archive for ${path}`;
    const applier = createApplier(r.base, { whiteouts: 'keep', rootEntry: 'skip', owner, bestEffortXattrs: true, source: where, signal: opts.signal });
    const resolver = new RootResolver(r.base, where);
    const inside = (name: string): string => {
      const comps = cleanMemberName(name, where);
      return [prefix, ...comps].filter(Boolean).join('/');
    };
    // dockerd accepts a compressed upload too (its Untar sniffs the compression).
    const plain = input.pipe(createDecompressStream('auto'));
    input.once('error', (err) => plain.destroy(err));
    for await (const { entry, body } of readTar(plain, { signal: opts.signal, source: where })) {
      const comps = cleanMemberName(entry.name, where);
      if (comps.length === 0) continue; // `./`: the extraction directory itself is left as it is
      const name = inside(entry.name);
      if (opts.noOverwriteDirNonDir) checkDirNonDir(resolver, name, entry.type === 'dir', entry.name);
      const moved = { ...entry, name };
      if (entry.type === 'link' && entry.linkname !== undefined) moved.linkname = inside(entry.linkname);
      await applier.add(moved, body);
    }
    applier.finish();
  });
  event(root, rec, 'extract-to-dir');
}

/** Docker's NoOverwriteDirNonDir: a directory member over a non-directory, or the reverse, is refused. */
function checkDirNonDir(resolver: RootResolver, name: string, isDir: boolean, shown: string): void {
  const comps = name.split('/');
  resolver.invalidate();
  const at = resolver.resolve(comps, false, false);
  const st = at === undefined ? undefined : lstatSync(at, { throwIfNoEntry: false });
  if (!st) return;
  if (st.isDirectory() && !isDir) throw new KilnError('INVALID_ARGUMENT', `cannot overwrite directory "${shown}" with non-directory`);
  if (!st.isDirectory() && isDir) throw new KilnError('INVALID_ARGUMENT', `cannot overwrite non-directory "${shown}" with directory`);
}
