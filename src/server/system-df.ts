/**
 * `GET /system/df` as dockerd answers it: LayersSize, Images (with how many containers use each), Containers
 * (with SizeRw/SizeRootFs) and BuildCache (Volumes come from the volume backend), one
 * row per kiln build-cache record with its real creation and last-use times.
 */
import type { StoreRoot } from '../cache/root.js';
import { diskUsage } from '../cache/disk-usage.js';
import { openBuildCache } from '../cache/build-cache.js';
import { createContainerStore } from '../containers/containers.js';
import type { ImageSummary } from './backend.js';
import { containerSummary } from './container-shapes.js';
import { shapeInputs } from './container-sizes.js';
import { imageSummary } from './image-shapes.js';
import { imageSizerFor } from './image-sizes.js';

/** Docker's types.BuildCache row. */
export interface BuildCacheRow {
  ID: string;
  Parent: string;
  Type: string;
  Description: string;
  InUse: boolean;
  Shared: boolean;
  Size: number;
  CreatedAt: string;
  LastUsedAt: string | null;
  UsageCount: number;
}

export interface DiskUsageAnswer {
  LayersSize: number;
  Images: ImageSummary[];
  Containers: unknown[];
  BuildCache: BuildCacheRow[];
}

export async function systemDiskUsage(root: StoreRoot, opts: { signal?: AbortSignal } = {}): Promise<DiskUsageAnswer> {
  const rows = await diskUsage(root);
  const containers = await createContainerStore({ root: root.root })
    .list()
    .catch(() => []);
  const sizer = imageSizerFor(root.content);
  const images = await root.images.list();
  const Images: ImageSummary[] = [];
  for (const r of images) {
    const users = containers.filter((c) => c.imageId === r.id).length;
    Images.push(imageSummary(r, { size: await sizer.size(r, opts), containers: users }));
  }
  const Containers = [];
  for (const c of containers) Containers.push(containerSummary(c, await shapeInputs(root, c, { size: true })));
  // A record's layer is Shared when an image lists it too (removing the record would not free it).
  const imageLayers = new Set(images.flatMap((r) => r.config.rootfs?.diff_ids ?? []));
  const cache = await openBuildCache(root.root);
  const BuildCache: BuildCacheRow[] = (await cache.list()).map((rec) => ({
    ID: rec.key.replace(/^sha256:/, '').slice(0, 25),
    Parent: '',
    Type: 'regular',
    Description: rec.result.layer ? `layer ${rec.result.layer.diffId}` : 'a step that changed no files',
    InUse: false,
    Shared: Boolean(rec.result.layer && imageLayers.has(rec.result.layer.diffId)),
    Size: rec.result.layer?.size ?? 0,
    CreatedAt: rec.created,
    LastUsedAt: rec.lastUsed ? new Date(rec.lastUsed).toISOString() : null,
    // kiln does not count a record's uses; a record that exists was used at least by the build that made it.
    UsageCount: 1,
  }));
  return {
    LayersSize: rows.filter((r) => r.kind === 'layers').reduce((a, r) => a + r.bytes, 0),
    Images,
    Containers,
    BuildCache,
  };
}
