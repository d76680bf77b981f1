/**
 * `openBuilder(rootDir)`: a builder wired over a state root with the real components (store, snapshotter,
 * executor, file operations, registry). An in-process CLI build calls it per invocation; `kiln serve` and the
 * resident builder (src/cli/daemon) once, sharing the builder (and so its flight map and p-queue) between
 * concurrent builds.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isOwnerAlive } from '../cache/lock.js';
import { openRoot, type StoreRoot } from '../cache/root.js';
import type { Executor } from '../sandbox/types.js';
import { createBuilder, type Builder } from './builder.js';
import { fileOpsPort, layerPort, pullPort } from './wiring.js';
import type { PullPort } from './ports.js';
import type { Snapshotter } from '../cache/types.js';

/** The runc executor, loaded on the first RUN (a fully cached build never needs it). */
function lazyExecutor(rootDir: string): Executor {
  let ex: Promise<Executor> | undefined;
  return {
    async run(o) {
      ex ??= import('../sandbox/executor.js').then((m) => m.createExecutor({ root: rootDir }));
      return (await ex).run(o);
    },
  };
}

/** The overlay snapshotter, loaded when a step misses (it pulls in the layer unpacker and native zstd). */
function lazySnapshotter(root: StoreRoot): Snapshotter {
  let snap: Promise<Snapshotter> | undefined;
  const get = () => (snap ??= import('../cache/snapshotter.js').then((m) => m.createSnapshotter({ root: root.paths.snapshots, content: root.content })));
  return {
    ensureImage: async (layers, io) => (await get()).ensureImage(layers, io),
    prepare: async (key, parent) => (await get()).prepare(key, parent),
    view: async (key, parent) => (await get()).view(key, parent),
    commit: async (name, key) => (await get()).commit(name, key),
    remove: async (key) => (await get()).remove(key),
    stat: async (key) => (await get()).stat(key),
    lowerDirs: async (key) => (await get()).lowerDirs(key),
    list: async () => (await get()).list(),
  };
}

/**
 * A build killed while it had a rootfs or a view mounted (SIGKILL, a crash) leaves that mount under its
 * `<root>/tmp/<owner>-…` dir, which the root's sweep cannot remove. Unmount what dead owners left, then remove
 * their dirs. One read of /proc/self/mountinfo when nothing is left over.
 */
async function sweepDeadBuildMounts(tmpRoot: string): Promise<void> {
  const { mountsUnder, unmountAll } = await import('../sandbox/mount.js');
  const points = await mountsUnder(tmpRoot).catch(() => [] as string[]);
  const dead = new Set<string>();
  for (const p of points) {
    const top = p.slice(tmpRoot.length + 1).split('/')[0] ?? '';
    const owner = /^(\d+\.\d+)-/.exec(top)?.[1];
    if (!owner || !isOwnerAlive(owner)) dead.add(join(tmpRoot, top));
  }
  for (const d of dead) {
    await unmountAll(d).catch(() => {});
    await rm(d, { recursive: true, force: true }).catch(() => {});
  }
}

/**
 * A build killed during a RUN leaves its runc container (still running), cgroups, the rootfs mount and the
 * bundle under `<root>/containers/<id>/bundle` (the executor removes the bundle last). The executor's start-up
 * sweep (`cleanupStale`) removes them, but loading it costs ~20 ms and a no-op rebuild takes ~250 ms, so it runs
 * only when a bundle or a runc container exists: a readdir or two otherwise (a `kiln run` container that has
 * exited keeps its state dir, not a bundle). Never fails the build.
 */
async function sweepDeadContainers(rootDir: string, containersDir: string): Promise<void> {
  const [ids, runc] = await Promise.all([
    readdir(containersDir).catch(() => [] as string[]),
    // runcStateDir(root): one dir per runc container; not imported, to keep the executor off the start-up path.
    readdir(join(rootDir, 'runc')).catch(() => [] as string[]),
  ]);
  let leftovers = runc.length > 0;
  for (const id of ids) {
    if (leftovers) break;
    leftovers = await stat(join(containersDir, id, 'bundle')).then(
      () => true,
      () => false,
    );
  }
  if (!leftovers) return;
  const { cleanupStale } = await import('../sandbox/cleanup.js');
  await cleanupStale(rootDir).catch(() => {});
}

export interface OpenedBuilder extends Builder {
  root: StoreRoot;
  /** Persists the stat cache and removes this opening's tmp dir. */
  close(): Promise<void>;
}

/** `registry` replaces the default pull port (the server passes one that uses each client's own credentials). */
export async function openBuilder(rootDir: string, opts: { concurrency?: number; root?: StoreRoot; registry?: PullPort } = {}): Promise<OpenedBuilder> {
  const root = opts.root ?? (await openRoot(rootDir));
  await sweepDeadContainers(root.root, root.paths.containers);
  await sweepDeadBuildMounts(root.paths.tmp);
  const fileops = fileOpsPort(root.root, root.tmpDir);
  const builder = createBuilder({
    root: root.root,
    content: root.content,
    images: root.images,
    snapshotter: lazySnapshotter(root),
    executor: lazyExecutor(root.root),
    layers: layerPort(root.content),
    fileops,
    registry: opts.registry ?? pullPort(root),
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
