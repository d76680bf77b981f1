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
import type { Descriptor } from '../image/types.js';
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
