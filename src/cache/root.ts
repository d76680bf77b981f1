/**
 * The state root: one directory holding everything kiln keeps.
 *
 *   <root>/oci/            OCI image layout: oci-layout, index.json (tags), blobs/sha256/… (ALL blobs)
 *   <root>/snapshots/      unpacked layers (the snapshotter)
 *   <root>/build-cache/    the builder's cache index
 *   <root>/containers/, <root>/volumes/
 *   <root>/tmp/            scratch on the same filesystem; one directory per process, swept when its owner is dead
 *   <root>/locks/          lock files (`store.lock` guards index.json, leases and prune)
 *   <root>/leases/         blobs pinned by running processes (src/cache/lease.ts)
 *   <root>/gc-roots/       blobs pinned by other modules' indexes (src/cache/gc.ts documents the format)
 *
 * `openRoot` creates what is missing and sweeps leftovers of processes that died (SIGKILL): their temp dirs and
 * lease files. Several processes may open one root at once.
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { canonicalJson } from '../image/canonical-json.js';
import { MediaType } from '../image/types.js';
import { writeFileAtomic } from './atomic-file.js';
import { createContentStore } from './content-store.js';
import { createImageStore, type ImageStore } from './image-store.js';
import { createLease, STORE_LOCK, type Lease } from './lease.js';
import { ownerToken, withLock } from './lock.js';
import { sweepTemp } from './tmp-sweep.js';
import type { ContentStore } from './types.js';

export interface RootPaths {
  root: string;
  /** The OCI image layout directory. */
  oci: string;
  blobs: string;
  index: string;
  snapshots: string;
  buildCache: string;
  containers: string;
  volumes: string;
  /** The shared scratch directory (parent of every process's own tmp dir). */
  tmp: string;
  locks: string;
  leases: string;
  gcRoots: string;
}

/** An opened root. `tmpDir` is this opening's own scratch directory on the root's filesystem. */
export interface StoreRoot {
  root: string;
  paths: RootPaths;
  content: ContentStore;
  images: ImageStore;
  tmpDir: string;
  /** A new lease owned by this process (release it when done). */
  lease(): Lease;
  /** Runs `fn` under the store lock (what index.json updates and prune hold). */
  withStoreLock<T>(fn: () => Promise<T>): Promise<T>;
  /** Removes this opening's tmp dir. Optional: a dead process's dir is swept by the next open. */
  close(): Promise<void>;
}

/** The paths of a root without touching the disk. */
export function rootPaths(rootDir: string): RootPaths {
  const oci = join(rootDir, 'oci');
  return {
    root: rootDir,
    oci,
    blobs: join(oci, 'blobs', 'sha256'),
    index: join(oci, 'index.json'),
    snapshots: join(rootDir, 'snapshots'),
    buildCache: join(rootDir, 'build-cache'),
    containers: join(rootDir, 'containers'),
    volumes: join(rootDir, 'volumes'),
    tmp: join(rootDir, 'tmp'),
    locks: join(rootDir, 'locks'),
    leases: join(rootDir, 'leases'),
    gcRoots: join(rootDir, 'gc-roots'),
  };
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** Opens (creating if needed) the state root at `rootDir`. */
export async function openRoot(rootDir: string, opts: { sweep?: boolean } = {}): Promise<StoreRoot> {
  const paths = rootPaths(rootDir);
  for (const d of [paths.blobs, paths.snapshots, paths.buildCache, paths.containers, paths.volumes, paths.tmp, paths.locks, paths.leases, paths.gcRoots]) {
    await mkdir(d, { recursive: true });
  }
  const layoutFile = join(paths.oci, 'oci-layout');
  if (!(await exists(layoutFile))) await writeFileAtomic(layoutFile, JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  if (!(await exists(paths.index))) {
    await withLock(paths.locks, STORE_LOCK, async () => {
      if (!(await exists(paths.index))) {
        await writeFileAtomic(paths.index, canonicalJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] }));
      }
    });
  } else {
    // Fail early and clearly on a foreign or damaged layout.
    await readFile(layoutFile, 'utf8');
  }
  if (opts.sweep !== false) await sweepTemp(paths);

  const tmpDir = join(paths.tmp, `${ownerToken()}-${randomBytes(4).toString('hex')}`);
  await mkdir(tmpDir, { recursive: true });
  const content = createContentStore(paths.oci, { tmpDir });
  const images = createImageStore({ layoutDir: paths.oci, content, locksDir: paths.locks, leasesDir: paths.leases });
  return {
    root: rootDir,
    paths,
    content,
    images,
    tmpDir,
    lease: () => createLease({ leases: paths.leases, locks: paths.locks }),
    withStoreLock: (fn) => withLock(paths.locks, STORE_LOCK, fn),
    close: () => rm(tmpDir, { recursive: true, force: true }),
  };
}
