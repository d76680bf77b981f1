/**
 * The build context as the docker CLI sends it: a tar of the context directory with `.dockerignore` applied on
 * the client (only what the build may read crosses the wire), the Dockerfile and .dockerignore always included,
 * and a Dockerfile from outside the context appended under a name fixed by its path (so an unchanged rebuild
 * sends identical bytes and the server reuses what it unpacked). Written by kiln's own tar writer (packTar), which
 * reads small files synchronously into one arena: ~3x less CPU than a tar-stream pack for a 2,000-file context.
 */
import type { Stats } from 'node:fs';
import { lstat, readdir, readlink, readFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { KilnError } from '../../errors.js';
import { loadDockerignore } from '../../builder/dockerignore.js';
import type { PathMatcher } from '../../builder/fileops/patterns.js';
import { packTar, type TarInput } from '../../tar/writer.js';

export interface ContextTar {
  stream: Readable;
  /** The Dockerfile's path inside the tar (for the `dockerfile` query parameter). */
  dockerfile: string;
  /** Resolves when everything was packed (rejects with the packing error). */
  done: Promise<{ files: number; bytes: number }>;
}

/**
 * Packs `contextDir`; `dockerfile` is an absolute or cwd-relative path (default CONTEXT/Dockerfile), or
 * `opts.dockerfileText` is the Dockerfile itself (`-f -`), added as `.dockerfile.<hash of its text>` as the
 * docker CLI adds a stdin Dockerfile (named by content so an unchanged rebuild sends identical bytes).
 */
export async function packContext(contextDir: string, dockerfile?: string, opts: { dockerfileText?: Buffer } = {}): Promise<ContextTar> {
  const ctx = resolve(contextDir);
  const st = await lstat(ctx).catch(() => undefined);
  if (!st?.isDirectory()) throw new KilnError('NOT_FOUND', `build context ${contextDir}: not a directory`);
  const fromText = opts.dockerfileText !== undefined;
  const dfPath = fromText ? join(ctx, 'Dockerfile') : resolve(dockerfile ?? join(ctx, 'Dockerfile'));
  const dfText =
    opts.dockerfileText ??
    (await readFile(dfPath).catch(() => {
      throw new KilnError('DOCKERFILE_NOT_FOUND', `failed to read Dockerfile: ${dfPath}: no such file`);
    }));
  const rel = relative(ctx, dfPath);
  const inside = !fromText && !rel.startsWith('..') && !rel.startsWith(sep) && rel !== '';
  const dfName = inside
    ? rel.split(sep).join('/')
    : `.dockerfile.${createHash('sha256')
        .update(fromText ? dfText : dfPath)
        .digest('hex')
        .slice(0, 20)}`;
  // The ignore files are read confined, as the server and a local build read them (see builder/dockerignore.ts).
  const ignore = await loadDockerignore(
    ctx,
    inside || fromText ? { root: ctx, path: fromText ? 'Dockerfile' : rel.split(sep).join('/') } : { root: dirname(dfPath), path: basename(dfPath) },
  );
  const keep = (p: string) => p === dfName || p === '.dockerignore' || !ignore?.matches(p);

  const entries: TarInput[] = [];
  let files = 0;
  let bytes = 0;
  await walk(ctx, '', ignore, keep, async (p, s) => {
    const base = { name: p, mode: s.mode & 0o7777, uid: s.uid, gid: s.gid, mtime: Math.floor(s.mtimeMs / 1000), size: 0 };
    if (s.isDirectory()) entries.push({ ...base, type: 'dir' });
    else if (s.isSymbolicLink()) entries.push({ ...base, type: 'symlink', linkname: await readlink(join(ctx, p)) });
    else if (s.isFile()) {
      files++;
      bytes += s.size;
      entries.push({ ...base, type: 'file', size: s.size, source: join(ctx, p) });
    }
  });
  if (!inside) {
    const mtime = fromText ? 0 : Math.floor((await lstat(dfPath)).mtimeMs / 1000);
    entries.push({ name: dfName, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime, size: dfText.length, data: dfText });
  }
  const stream = packTar(entries);
  const done = new Promise<{ files: number; bytes: number }>((ok, fail) => {
    stream.on('end', () => ok({ files, bytes }));
    stream.on('error', fail);
  });
  done.catch(() => {});
  return { stream, dockerfile: dfName, done };
}

type Visit = (rel: string, st: Stats) => Promise<void>;

/** Depth-first, sorted; skips ignored paths, but enters an ignored directory when `!` patterns may re-include. */
async function walk(root: string, rel: string, ignore: PathMatcher | undefined, keep: (p: string) => boolean, visit: Visit): Promise<void> {
  const names = (await readdir(join(root, rel))).sort();
  for (const name of names) {
    const p = rel ? `${rel}/${name}` : name;
    const st = await lstat(join(root, p));
    const kept = keep(p);
    if (kept) await visit(p, st);
    if (st.isDirectory() && (kept || ignore?.hasExclusions)) await walk(root, p, ignore, keep, visit);
  }
}
