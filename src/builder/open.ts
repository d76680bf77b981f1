/**
 * `openBuilder(rootDir)`: a builder wired over a state root with the real components (store, snapshotter,
 * executor, file operations, registry). The CLI calls it per invocation; the server once, sharing the builder
 * (and so its flight map and p-queue) between concurrent builds.
 */
import { openRoot, type StoreRoot } from '../cache/root.js';
import { createExecutor } from '../executor/executor.js';
import { createBuilder, type Builder } from './builder.js';
import { fileOpsPort, layerPort, pullPort } from './wiring.js';
import { createSnapshotter } from '../cache/snapshotter.js';

export interface OpenedBuilder extends Builder {
  root: StoreRoot;
  /** Persists the stat cache and removes this opening's tmp dir. */
  close(): Promise<void>;
}

export async function openBuilder(rootDir: string, opts: { concurrency?: number; root?: StoreRoot } = {}): Promise<OpenedBuilder> {
  const root = opts.root ?? (await openRoot(rootDir));
  const fileops = fileOpsPort(root.root, root.tmpDir);
  const builder = createBuilder({
    root: root.root,
    content: root.content,
    images: root.images,
    snapshotter: createSnapshotter({ root: root.paths.snapshots, content: root.content }),
    executor: createExecutor({ root: root.root }),
    layers: layerPort(root.content),
    fileops,
    registry: pullPort(root),
    leaseDirs: { leases: root.paths.leases, locks: root.paths.locks },
    concurrency: opts.concurrency,
  });
  return {
    root,
    async build(o) {
      try {
        return await builder.build(o);
      } finally {
        fileops.flush();
      }
    },
    async close() {
      fileops.flush();
      if (!opts.root) await root.close();
    },
  };
}
