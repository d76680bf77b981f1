/**
 * `--output type=oci|docker,dest=FILE`: the built image as an archive that `skopeo` (oci-archive) and
 * `docker load` (docker-archive) read. Delegates to the store's archive writers (src/exporter/archive-*.ts).
 */
import type { ImageConfig, Descriptor, Digest } from '../image/types.js';
import { KilnError } from '../errors.js';
import type { BuildContext } from './build-context.js';

export interface ArchiveRequest {
  configDigest: Digest;
  manifestDigest: Digest;
  config: ImageConfig;
  layers: Descriptor[];
  format: 'oci' | 'docker';
  tags: string[];
  dest: string;
  kind: 'oci' | 'docker';
}

export async function writeImageArchive(_ctx: BuildContext, req: ArchiveRequest): Promise<void> {
  throw new KilnError('NOT_IMPLEMENTED', `--output type=${req.kind} is not available yet`);
}
