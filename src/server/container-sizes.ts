/**
 * What the container shapes need beyond the record: the image's Entrypoint and ExposedPorts, and with `size=1`
 * the writable layer's bytes (SizeRw: the overlay upper directory, walked without following symlinks) and
 * SizeRw plus the image's uncompressed size (SizeRootFs), as dockerd computes them.
 */
import { endpointSettings } from '../containers/container-networks.js';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { StoreRoot } from '../cache/root.js';
import type { ContainerRecord } from '../containers/containers.js';
import type { ShapeInputs } from './container-shapes.js';
import { imageSizerFor } from './image-sizes.js';

/** Bytes of regular files under `dir` (lstat: a symlink counts as itself, never its target); 0 when absent. */
export async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += await treeBytes(p);
    else if (e.isFile()) total += (await lstat(p).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

/** The overlay upper directory of the container's rootfs (its writable layer), if it has one. */
function upperDir(rec: ContainerRecord): string | undefined {
  const overlay = rec.spec.rootfs.find((m) => m.type === 'overlay');
  const upper = overlay?.options.find((o) => o.startsWith('upperdir='))?.slice('upperdir='.length);
  if (!upper) return undefined;
  return upper.startsWith('/') || !overlay?.cwd ? upper : join(overlay.cwd, upper);
}

export async function shapeInputs(root: StoreRoot, rec: ContainerRecord, opts: { size?: boolean } = {}): Promise<ShapeInputs> {
  const image = await root.images.resolve(rec.imageId).catch(() => undefined); // the image may be gone (rmi -f)
  const cfg = image?.config.config;
  const inputs: ShapeInputs = {
    root: root.root,
    imageEntrypoint: cfg?.Entrypoint ?? null,
    imageExposedPorts: cfg?.ExposedPorts,
    networks: await endpointSettings(root.root, rec),
  };
  if (opts.size) {
    const upper = upperDir(rec);
    const rw = upper ? await treeBytes(upper) : 0;
    const imageBytes = image ? await imageSizerFor(root.content).size(image) : 0;
    inputs.sizes = { rw, rootFs: rw + imageBytes };
  }
  return inputs;
}
