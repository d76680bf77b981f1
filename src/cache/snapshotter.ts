/**
 * The overlay snapshotter: each layer unpacked once into its own directory, keyed by chain ID; a container's
 * root is an overlay of those directories under a fresh upper dir. Methods return mounts as data and mount
 * nothing (the executor mounts), so this is unit-testable without root.
 *
 * Layout under `root` (`<state root>/snapshots`, on the real filesystem: an upper dir on overlay fails):
 *   d/<id>/   files of one snapshot (a lower, or an active snapshot's upper). `id` is 12 hex characters:
 *             short names keep deep stacks inside the kernel's 4 KiB mount option limit.
 *   w/<id>/   overlay work dir of an active snapshot
 *   m/<h>.json  metadata of the snapshot whose key hashes to `h`
 *   tmp/      unpacking in progress (same filesystem, so finished dirs are renamed into d/)
 *
 * Several processes may share a root: a layer's directory name derives from its chain ID, so two processes
 * unpacking the same layer race on one rename(2) and the loser drops its copy; metadata is published with
 * link(2), which fails instead of overwriting.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError, fromSystemError } from '../errors.js';
import { layerTar } from '../layers/layer-diff.js';
import type { Descriptor, Digest } from '../image/types.js';
import { applyLayer } from './apply-layer.js';
import { isOwnerAlive, ownerToken } from './lock.js';
import { createSnapshotMetaStore, type SnapshotMeta } from './snapshot-meta.js';
import { chainMounts, maxLowers } from './snapshot-mounts.js';
import type { ContentStore, IoOptions, Mount, SnapshotInfo, Snapshotter } from './types.js';

export interface SnapshotterOptions {
  /** The snapshots directory (`rootPaths(root).snapshots`). */
  root: string;
  content: ContentStore;
  /** Layers unpacked at once by ensureImage (default 2: decompression runs on the thread pool). */
  concurrency?: number;
}

/** The snapshotter plus housekeeping that is not part of the boundary interface. */
export interface OverlaySnapshotter extends Snapshotter {
  /** Removes active snapshots of dead processes, half-unpacked temp dirs and directories without metadata. */
  cleanup(): Promise<number>;
  /**
   * Garbage collection: removes committed snapshots that neither `keep` (image chain IDs, build-cache
   * snapshot keys) nor an active snapshot needs, directly or as an ancestor. Snapshots younger than
   * `graceMs` stay: another process may be unpacking an image it has not tagged yet. Returns the keys removed.
   */
  prune(keep: Iterable<string>, opts?: { graceMs?: number }): Promise<string[]>;
  /** The directory of the snapshot named `key` (its files alone). */
  dirOf(key: string): Promise<string>;
  /**
   * Writable rootfs mounts of chain `parent` over an upper and work dir the caller owns (a container's, kept
   * with its record), flattening a chain too deep for one mount. Upper and work must be on the same real
   * filesystem as the snapshots; the lower dirs are relative to a `cwd` for deep stacks.
   */
  rootfsMounts(parent: string | undefined, dirs: { upper: string; work: string }): Promise<Mount[]>;
}

const ID_LENGTH = 12;
/** Characters reserved for an upper and for a work dir path when deciding where to flatten. */
const PATH_BUDGET = 200;

/** Creates the snapshotter rooted at `opts.root` (directories are created on first use). */
export function createSnapshotter(opts: SnapshotterOptions): OverlaySnapshotter {
  const root = opts.root;
  const dataDir = join(root, 'd');
  const workRoot = join(root, 'w');
  const tmpDir = join(root, 'tmp');
  const inFlight = new Map<string, Promise<void>>();

  const metas = createSnapshotMetaStore(join(root, 'm'));
  const stableId = (key: string) => createHash('sha256').update(`snapshot:${key}`).digest('hex').slice(0, ID_LENGTH);
  const randomId = () => randomBytes(ID_LENGTH / 2).toString('hex');
  const info = (m: SnapshotMeta): SnapshotInfo => ({ key: m.key, parent: m.parent, dir: join(dataDir, m.id), kind: m.kind });

  /**
   * Chains already walked, by their top key. A committed snapshot's record never changes, and a snapshot is
   * never removed while one above it exists (prune keeps ancestors, remove refuses a parent), so once `key` is
   * read from disk the chain below its parent can come from here: every RUN step prepares on the previous
   * step's snapshot, and reading each ancestor's file again made `prepare` linear in the stage's depth.
   * Cleared by every removal in this process.
   */
  const chains = new Map<string, SnapshotMeta[]>();
  const CHAINS_MAX = 256;

  /** The chain from `key` down to its base, top first. `key` itself is always read from disk. */
  async function chain(key: string): Promise<SnapshotMeta[]> {
    const out: SnapshotMeta[] = [];
    for (let k: string | undefined = key; k !== undefined;) {
      const known = k !== key ? chains.get(k) : undefined;
      if (known) {
        out.push(...known);
        break;
      }
      const m = await metas.must(k);
      if (m.kind !== 'committed') throw new KilnError('PRECONDITION', `snapshot ${k} is active, not committed`);
      out.push(m);
      k = m.parent;
    }
    if (chains.size >= CHAINS_MAX) chains.delete(chains.keys().next().value!);
    chains.set(key, out);
    return out;
  }

  /** Unpacks one layer into d/<stable id> unless it is there; safe against other processes doing the same. */
  async function ensureLayer(key: string, parent: string | undefined, layer: { descriptor: Descriptor; diffId: Digest }, io: IoOptions): Promise<void> {
    // A full disk can strike anywhere here (the unpacking, the rename, the metadata record): it is the store's
    // condition, said as such, not an internal error.
    await unpackLayer(key, parent, layer, io).catch((err: unknown) => {
      const code = (err as NodeJS.ErrnoException)?.code;
      if (code === 'ENOSPC' || code === 'EDQUOT') throw fromSystemError(err, `unpacking layer ${layer.descriptor.digest}`)!;
      throw err;
    });
  }

  async function unpackLayer(key: string, parent: string | undefined, layer: { descriptor: Descriptor; diffId: Digest }, io: IoOptions): Promise<void> {
    if (await metas.read(key)) return;
    const id = stableId(key);
    const final = join(dataDir, id);
    if (!(await exists(final))) {
      await mkdir(tmpDir, { recursive: true });
      await mkdir(dataDir, { recursive: true });
      const tmp = join(tmpDir, `${ownerToken()}-${randomId()}`);
      await mkdir(tmp, { mode: 0o755 });
      try {
        const blob = await opts.content.read(layer.descriptor.digest, io);
        await applyLayer(blob, tmp, { source: layer.descriptor.digest, diffId: layer.diffId, signal: io.signal });
        await rename(tmp, final).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err; // another process won
        });
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    }
    await metas.publish({ key, parent, id, kind: 'committed', created: new Date().toISOString() });
  }

  /** A snapshot holding the bottom of a too-deep chain merged into one directory (whiteouts applied). */
  async function flattened(bottom: SnapshotMeta[]): Promise<string> {
    const key = `flat:${bottom[0]!.key}`;
    const id = stableId(key);
    const final = join(dataDir, id);
    if (await metas.read(key)) return final;
    const tmp = join(tmpDir, `${ownerToken()}-${randomId()}`);
    await mkdir(tmp, { recursive: true, mode: 0o755 });
    try {
      for (const m of [...bottom].reverse()) {
        await applyLayer(layerTar(join(dataDir, m.id)), tmp, { whiteouts: 'delete', source: `snapshot ${m.key}` });
      }
      await rename(tmp, final).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
      });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    // Recorded like any committed snapshot so cleanup() keeps it while containers use it.
    await metas.publish({ key, id, kind: 'committed', created: new Date().toISOString() });
    return final;
  }

  /** Lower dirs for `parent`, flattening the bottom of the chain when it is deeper than one mount holds. */
  async function lowersFor(parent: string | undefined, upper?: string, work?: string): Promise<string[]> {
    if (parent === undefined) return [];
    const stack = await chain(parent);
    // A fixed budget for the upper and work paths keeps the cut (and so the flattened snapshot) the same
    // for every caller; only paths longer than it move the cut.
    const limit = maxLowers(ID_LENGTH, Math.max(upper?.length ?? 0, PATH_BUDGET), Math.max(work?.length ?? 0, PATH_BUDGET));
    if (stack.length <= limit) return stack.map((m) => join(dataDir, m.id));
    const keep = stack.slice(0, limit - 1);
    return [...keep.map((m) => join(dataDir, m.id)), await flattened(stack.slice(limit - 1))];
  }

  const snapshotter: OverlaySnapshotter = {
    async ensureImage(layers, io = {}) {
      if (layers.length === 0) return undefined;
      const keys = chainIds(layers.map((l) => l.diffId));
      const missing: number[] = [];
      for (let i = 0; i < layers.length; i++) if (!(await metas.read(keys[i]!))) missing.push(i);
      let next = 0;
      const worker = async () => {
        while (next < missing.length) {
          const i = missing[next++]!;
          const key = keys[i]!;
          let p = inFlight.get(key);
          if (!p) {
            p = ensureLayer(key, i === 0 ? undefined : keys[i - 1], layers[i]!, io).finally(() => inFlight.delete(key));
            inFlight.set(key, p);
          }
          await p;
        }
      };
      await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 2, missing.length) }, worker));
      return keys[keys.length - 1];
    },

    async prepare(key, parent) {
      if (await metas.read(key)) throw new KilnError('ALREADY_EXISTS', `snapshot ${key} already exists`);
      const id = randomId();
      const upper = join(dataDir, id);
      const work = join(workRoot, id);
      const lowers = await lowersFor(parent, upper, work);
      mkdirSync(upper, { recursive: true, mode: 0o755 });
      mkdirSync(work, { recursive: true, mode: 0o700 });
      if (!(await metas.publish({ key, parent, id, kind: 'active', owner: ownerToken(), created: new Date().toISOString() }))) {
        await rm(upper, { recursive: true, force: true });
        await rm(work, { recursive: true, force: true });
        throw new KilnError('ALREADY_EXISTS', `snapshot ${key} already exists`);
      }
      return chainMounts({ lowers, upper, work });
    },

    async view(_key, parent) {
      if (parent === undefined) {
        const empty = join(root, 'empty');
        await mkdir(empty, { recursive: true, mode: 0o755 });
        return [{ type: 'bind', source: empty, options: ['rbind', 'ro'] }];
      }
      return chainMounts({ lowers: await lowersFor(parent) });
    },

    async commit(name, key) {
      const m = await metas.must(key);
      if (m.kind !== 'active') throw new KilnError('PRECONDITION', `snapshot ${key} is already committed`);
      const won = await metas.publish({ key: name, parent: m.parent, id: m.id, kind: 'committed', created: new Date().toISOString() });
      // Synchronous: overlay's work dir holds one empty directory, and async calls here queue behind blob fsyncs.
      rmSync(join(workRoot, m.id), { recursive: true, force: true });
      await metas.remove(key);
      // Same name committed by someone else first: identical content by construction (names are cache keys).
      if (!won) await rm(join(dataDir, m.id), { recursive: true, force: true });
    },

    async remove(key) {
      chains.clear();
      const m = await metas.must(key);
      for (const other of await metas.list()) {
        if (other.parent === key) throw new KilnError('PRECONDITION', `snapshot ${key} is the parent of ${other.key}`);
      }
      await metas.remove(key);
      const shared = (await metas.list()).some((o) => o.id === m.id);
      if (!shared) await rm(join(dataDir, m.id), { recursive: true, force: true });
      await rm(join(workRoot, m.id), { recursive: true, force: true });
    },

    async stat(key) {
      const m = await metas.read(key);
      return m && info(m);
    },

    async lowerDirs(key) {
      return (await chain(key)).map((m) => join(dataDir, m.id));
    },

    async list() {
      return (await metas.list()).map(info);
    },

    async rootfsMounts(parent, dirs) {
      return chainMounts({ lowers: await lowersFor(parent, dirs.upper, dirs.work), ...dirs });
    },

    async dirOf(key) {
      return join(dataDir, (await metas.must(key)).id);
    },

    async prune(keep, popts = {}) {
      chains.clear();
      const all = await metas.list();
      const cutoff = Date.now() - (popts.graceMs ?? 0);
      const byKey = new Map(all.map((m) => [m.key, m]));
      const live = new Set<string>();
      const mark = (key: string | undefined) => {
        for (let k = key; k !== undefined && !live.has(k); k = byKey.get(k)?.parent) live.add(k);
      };
      for (const k of keep) mark(k);
      for (const m of all) if (m.kind === 'active' || Date.parse(m.created) > cutoff) mark(m.key);
      // A flattened bottom lives as long as the snapshot it was cut at.
      for (const m of all) if (m.key.startsWith('flat:') && live.has(m.key.slice(5))) live.add(m.key);
      const removed: string[] = [];
      const liveIds = new Set(all.filter((m) => live.has(m.key)).map((m) => m.id));
      for (const m of all) {
        if (live.has(m.key)) continue;
        await metas.remove(m.key);
        if (!liveIds.has(m.id)) await rm(join(dataDir, m.id), { recursive: true, force: true });
        removed.push(m.key);
      }
      return removed;
    },

    async cleanup() {
      let removed = 0;
      for (const m of await metas.list()) {
        if (m.kind === 'active' && m.owner && !isOwnerAlive(m.owner)) {
          await snapshotter.remove(m.key).catch(() => {});
          removed++;
        }
      }
      for (const name of await readdir(tmpDir).catch(() => [] as string[])) {
        if (!isOwnerAlive(name.split('-')[0]!)) {
          await rm(join(tmpDir, name), { recursive: true, force: true });
          removed++;
        }
      }
      const ids = new Set((await metas.list()).map((m) => m.id));
      for (const id of await readdir(dataDir).catch(() => [] as string[])) {
        // A layer dir renamed into place by a process that died before publishing its metadata is kept
        // for a minute (rename updates ctime) in case that publish is still in flight elsewhere.
        const st = await stat(join(dataDir, id)).catch(() => undefined);
        if (!ids.has(id) && st && Date.now() - st.ctimeMs > 60_000) {
          await rm(join(dataDir, id), { recursive: true, force: true });
          removed++;
        }
      }
      return removed;
    },
  };

  return snapshotter;
}

/**
 * OCI ChainIDs of a layer stack, one per layer: the first is its diff ID, each next one
 * sha256 of "<previous chain ID> <diff ID>". Snapshots of image layers are keyed by these.
 */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const d of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : `sha256:${createHash('sha256').update(`${prev} ${d}`).digest('hex')}`);
  }
  return out;
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}
