/**
 * `--output type=oci|docker,dest=FILE`: the built image as an archive that `skopeo` (oci-archive) and
 * `docker load` (docker-archive) read, written by the store's archive writer from blobs already in the store.
 * `dest=-` writes to stdout; a file appears only when complete (a failed or cancelled build leaves none).
 */
import { writeOutputFile } from '../cache/atomic-file.js';
import type { Writable } from 'node:stream';
import { fromSystemError } from '../errors.js';
import { saveArchive } from '../exporter/archive-save.js';
import { normalizeReference } from '../image/reference.js';
import type { Descriptor, Index } from '../image/types.js';
import type { BuilderDeps } from './ports.js';
import type { BuildEvent } from './types.js';
import type { BuildContext } from './build-context.js';

export interface ArchiveRequest {
  manifest: Descriptor;
  tags: string[];
  dest: string;
  kind: 'oci' | 'docker';
}

export async function writeImageArchive(ctx: BuildContext, req: ArchiveRequest): Promise<void> {
  ctx.emit({ type: 'export', status: `writing ${req.kind} archive to ${req.dest}` });
  const image = await ctx.deps.images.load(req.manifest, [], { signal: ctx.signal });
  const refs = req.tags.map((t) => normalizeReference(t));
  const write = (out: Writable) => saveArchive(ctx.deps.content, [{ image, refs }], out, { format: req.kind, signal: ctx.signal });
  if (req.dest === '-') return write(ctx.opts.stdout ?? process.stdout);
  await writeOutputFile(req.dest, write).catch((err: unknown) => {
    throw fromSystemError(err, req.dest) ?? err;
  });
}

export interface IndexArchiveRequest {
  index: Descriptor;
  tags: string[];
  dest: string;
  kind: 'oci' | 'docker';
  stdout?: Writable;
  signal?: AbortSignal;
}

/** A multi-platform build's archive: the index and every platform's image (archive-save.ts says how each format holds it). */
export async function writeIndexArchive(deps: BuilderDeps, req: IndexArchiveRequest, emit: (e: BuildEvent) => void): Promise<void> {
  emit({ type: 'export', status: `writing ${req.kind} archive to ${req.dest}` });
  const doc = await deps.content.readJson<Index>(req.index.digest, { signal: req.signal });
  const children = await Promise.all(doc.manifests.map((m) => deps.images.load(m, [], { signal: req.signal })));
  const refs = req.tags.map((t) => normalizeReference(t));
  const item = { image: children[0]!, refs, index: { descriptor: req.index, children } };
  const write = (out: Writable) => saveArchive(deps.content, [item], out, { format: req.kind, signal: req.signal });
  if (req.dest === '-') return write(req.stdout ?? process.stdout);
  await writeOutputFile(req.dest, write).catch((err: unknown) => {
    throw fromSystemError(err, req.dest) ?? err;
  });
}

/** `type=tar` of several platforms: one tar of `dir` (a directory per platform), to a file or `-`. */
export async function writeDirTar(dir: string, dest: string, o: { stdout?: Writable; signal?: AbortSignal }): Promise<void> {
  const { dirTar } = await import('../layers/layer-diff.js');
  const { pipeline } = await import('node:stream/promises');
  if (dest === '-') return pipeline(dirTar(dir, { signal: o.signal }), o.stdout ?? process.stdout, { end: false });
  await writeOutputFile(dest, (out) => pipeline(dirTar(dir, { signal: o.signal }), out)).catch((err: unknown) => {
    throw fromSystemError(err, dest) ?? err;
  });
}
