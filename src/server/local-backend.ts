/**
 * Wires the server's backend interface to the real kiln of one state root: the image store (H2), the builder
 * (H6), the registry client (H5) and the executor's containers (H4). One builder is shared by every request, so
 * all builds share its cache and its in-flight map (identical steps running at once run once).
 */
import { KilnError } from '../errors.js';
import { openRoot } from '../cache/root.js';
import type { ServerBackend } from './backend.js';
import { createImageBackend } from './image-backend.js';

export interface LocalBackendOptions {
  root: string;
}

/** Opens the root and returns a backend over it; `close()` releases the root's temp dir. */
export async function createLocalBackend(opts: LocalBackendOptions): Promise<ServerBackend> {
  const root = await openRoot(opts.root);
  return {
    tmpDir: root.tmpDir,
    images: createImageBackend(root),
    async build() {
      throw new KilnError('NOT_IMPLEMENTED', 'the builder is not wired into kiln serve yet');
    },
    async close() {
      await root.close();
    },
  };
}
