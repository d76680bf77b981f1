/**
 * `--output type=oci|docker,dest=FILE`: the built image as an archive that `skopeo` (oci-archive) and
 * `docker load` (docker-archive) read, written by the store's archive writer from blobs already in the store.
 * `dest=-` writes to stdout.
 */
import { createWriteStream } from 'node:fs';
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
  const out = req.dest === '-' ? ctx.opts.stdout ?? process.stdout : createWriteStream(req.dest);
  await saveArchive(ctx.deps.content, [{ image, refs }], out, { format: req.kind, signal: ctx.signal });
}
