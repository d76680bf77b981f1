/**
 * The build context as the docker CLI sends it: a tar of the context directory with `.dockerignore` applied on
 * the client (only what the build may read crosses the wire), the Dockerfile and .dockerignore always included,
 * and a Dockerfile from outside the context appended under a random name that the query then names.
 */
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink, readFile } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { KilnError } from '../../errors.js';
import { loadDockerignore } from '../../builder/dockerignore.js';
import type { PathMatcher } from '../../builder/fileops/patterns.js';

export interface ContextTar {
  stream: Readable;
  /** The Dockerfile's path inside the tar (for the `dockerfile` query parameter). */
  dockerfile: string;
  /** Resolves when everything was packed (rejects with the packing error). */
  done: Promise<{ files: number; bytes: number }>;
}

/** Packs `contextDir`; `dockerfile` is an absolute or cwd-relative path (default CONTEXT/Dockerfile). */
export async function packContext(contextDir: string, dockerfile?: string): Promise<ContextTar> {
  const ctx = resolve(contextDir);
  const st = await lstat(ctx).catch(() => undefined);
  if (!st?.isDirectory()) throw new KilnError('NOT_FOUND', `build context ${contextDir}: not a directory`);
  const dfPath = resolve(dockerfile ?? join(ctx, 'Dockerfile'));
  const dfText = await readFile(dfPath).catch(() => {
    throw new KilnError('DOCKERFILE_NOT_FOUND', `failed to read Dockerfile: ${dfPath}: no such file`);
  });
  const rel = relative(ctx, dfPath);
  const inside = !rel.startsWith('..') && !rel.startsWith(sep) && rel !== '';
  // A name fixed by the path (not random, as the docker CLI's): an unchanged rebuild sends identical bytes, which
  // lets the server reuse the context it unpacked last time.
  const dfName = inside ? rel.split(sep).join('/') : `.dockerfile.${createHash('sha256').update(dfPath).digest('hex').slice(0, 20)}`;
  const dfMtime = (await lstat(dfPath)).mtime;
  const ignore = await loadDockerignore(ctx, dfPath);
  const pack = tar.pack();
  const done = (async () => {
    let files = 0;
    let bytes = 0;
    const entry = (header: Parameters<typeof pack.entry>[0], body?: Buffer | Readable) =>
      new Promise<void>((ok, fail) => {
        if (body && !Buffer.isBuffer(body)) {
          const w = pack.entry(header, (err) => (err ? fail(err) : ok()));
          body.on('error', fail);
          body.pipe(w);
        } else pack.entry(header, body ?? Buffer.alloc(0), (err) => (err ? fail(err) : ok()));
      });
    const keep = (p: string) => p === dfName || p === '.dockerignore' || !ignore?.matches(p);
    await walk(ctx, '', ignore, keep, async (p, s) => {
      const header = { name: p, mode: s.mode & 0o7777, mtime: s.mtime, uid: s.uid, gid: s.gid };
      if (s.isDirectory()) await entry({ ...header, type: 'directory' });
      else if (s.isSymbolicLink()) await entry({ ...header, type: 'symlink', linkname: await readlink(join(ctx, p)) });
      else if (s.isFile()) {
        files++;
        bytes += s.size;
        // Hot path: small files in one read (most of a context), big ones streamed.
        const body = s.size <= 1 << 20 ? await readFile(join(ctx, p)) : createReadStream(join(ctx, p));
        await entry({ ...header, type: 'file', size: s.size }, body);
      }
    });
    if (!inside) await entry({ name: dfName, type: 'file', mode: 0o644, size: dfText.length, mtime: dfMtime }, dfText);
    pack.finalize();
    return { files, bytes };
  })();
  done.catch((err) => pack.destroy(err));
  return { stream: pack as unknown as Readable, dockerfile: dfName, done };
}

type Visit = (rel: string, st: import('node:fs').Stats) => Promise<void>;

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
