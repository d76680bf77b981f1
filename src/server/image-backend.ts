/**
 * The server's image endpoints over the image store: Docker-shaped lists and inspect records, tag, and rmi with
 * Docker's rules (untag a named reference; an ID with several tags needs force). Blobs stay until `kiln prune`.
 */
import { createContainerStore, type ContainerRecord } from '../containers/containers.js';
import { imagePruneFilter } from './filters.js';
import { KilnError } from '../errors.js';
import type { StoreRoot } from '../cache/root.js';
import type { ImageRecord } from '../cache/image-store.js';
import { familiarize, familiarName, normalizeReference } from '../image/reference.js';
import { createBlobSources } from '../registry/blob-sources.js';
import type { ImageBackend, ImageManifestSummary, ImageSummary, SystemBackend } from './backend.js';
import type { Index } from '../image/types.js';
import { imageInspect, imageSummary } from './image-shapes.js';
import { imageSizerFor } from './image-sizes.js';
import { loadArchive } from '../exporter/archive-load.js';
import { resolveSaveItems, saveArchive } from '../exporter/archive-save.js';
import { systemDiskUsage } from './system-df.js';
import { collectGarbage } from '../cache/gc.js';
import { containersUsingImage } from '../containers/containers.js';

/**
 * Docker's RepoDigests (`127.0.0.1:5000/app@sha256:…`): the repositories a push or pull recorded as holding the
 * image's index or manifest (src/registry/blob-sources.ts, `<root>/registry/blob-sources.json`). An image that
 * never went through a registry has none, as with dockerd.
 */
async function repoDigestsOf(rootDir: string, recs: ImageRecord[]): Promise<Map<string, string[]>> {
  const digests = recs.flatMap((r) => (r.indexDigest ? [r.indexDigest, r.manifestDigest] : [r.manifestDigest]));
  const sources = await createBlobSources(rootDir).sourcesOf([...new Set(digests)]);
  const out = new Map<string, string[]>();
  for (const r of recs) {
    const seen = new Set<string>();
    const list: string[] = [];
    // The index first (what a push of a multi-platform image tags), then the manifest for other repositories.
    for (const d of r.indexDigest ? [r.indexDigest, r.manifestDigest] : [r.manifestDigest]) {
      for (const src of sources.get(d) ?? []) {
        const slash = src.indexOf('/');
        if (slash <= 0 || seen.has(src)) continue;
        seen.add(src);
        list.push(`${familiarName({ domain: src.slice(0, slash), path: src.slice(slash + 1) })}@${d}`);
      }
    }
    out.set(r.manifestDigest, list.sort());
  }
  return out;
}

/** The `/images/json` rows of `recs`, each with its uncompressed size (image-sizes.ts). */
async function summaries(
  root: StoreRoot,
  recs: ImageRecord[],
  digests?: Map<string, string[]>,
  opts?: { signal?: AbortSignal; manifests?: boolean },
): Promise<ImageSummary[]> {
  const sizer = imageSizerFor(root.content);
  const out: ImageSummary[] = [];
  for (const r of recs) {
    const row = imageSummary(r, { size: await sizer.size(r, opts), repoDigests: digests?.get(r.manifestDigest) });
    if (opts?.manifests && r.indexDigest) row.Manifests = await platformManifests(root, r, sizer, opts);
    out.push(row);
  }
  return out;
}

/** An index's platform manifests in `?manifests=1` shape; a platform whose blobs are not here is not Available. */
async function platformManifests(
  root: StoreRoot,
  index: ImageRecord,
  sizer: ReturnType<typeof imageSizerFor>,
  opts?: { signal?: AbortSignal },
): Promise<ImageManifestSummary[]> {
  const doc = await root.content.readJson<Index>(index.indexDigest!, opts);
  const out: ImageManifestSummary[] = [];
  for (const m of doc.manifests) {
    if (!m.platform) continue;
    const platform: Record<string, string> = {
      architecture: m.platform.architecture,
      os: m.platform.os,
      ...(m.platform.variant ? { variant: m.platform.variant } : {}),
    };
    const child = await root.images.resolve(index.indexDigest!, { ...opts, platform: m.platform }).catch(() => undefined);
    const size = child ? await sizer.size(child, opts).catch(() => 0) : 0;
    out.push({
      ID: m.digest,
      Descriptor: { mediaType: m.mediaType, digest: m.digest, size: m.size, platform },
      Available: Boolean(child),
      Size: { Total: child?.size ?? 0, Content: child?.size ?? 0 },
      Kind: 'image',
      ImageData: { Platform: platform, Containers: [], Size: { Unpacked: size } },
    });
  }
  return out;
}

/** The normalised reference `name` stands for, or undefined when it is an ID (prefix) rather than a name. */
function asReference(name: string): string | undefined {
  if (/^(sha256:)?[a-f0-9]{4,64}$/.test(name)) return undefined;
  return normalizeReference(name);
}

export function createImageBackend(root: StoreRoot): ImageBackend {
  const images = root.images;
  return {
    async list(opts) {
      const recs = await images.list(opts);
      const digests = await repoDigestsOf(root.root, recs);
      return summaries(root, recs, digests, opts);
    },
    async inspect(name, opts) {
      const rec = await images.resolve(name, opts);
      const size = await imageSizerFor(root.content).size(rec, opts);
      return imageInspect(rec, { size, repoDigests: (await repoDigestsOf(root.root, [rec])).get(rec.manifestDigest) });
    },
    async tag(source, target, opts) {
      const rec = await images.resolve(source, opts);
      await images.tag(normalizeReference(target), rec.descriptor);
    },
    async history(name, opts) {
      const rec = await images.resolve(name, opts);
      const layers = [...rec.manifest.layers];
      const rows = (rec.config.history ?? []).map((h) => {
        const size = h.empty_layer ? 0 : (layers.shift()?.size ?? 0);
        return {
          Id: '<missing>',
          Created: h.created ? Math.floor(Date.parse(h.created) / 1000) : 0,
          CreatedBy: h.created_by ?? '',
          Tags: null as string[] | null,
          Size: size,
          Comment: h.comment ?? '',
        };
      });
      rows.reverse();
      if (rows[0]) Object.assign(rows[0], { Id: rec.id, Tags: rec.refs.map(familiarize) });
      return rows;
    },
    async prune(opts) {
      const { all, keep } = imagePruneFilter(opts?.filters ?? new Map());
      // As dockerd: an image any container uses, running or stopped, is never pruned.
      const containers = await createContainerStore({ root: root.root })
        .list()
        .catch(() => [] as ContainerRecord[]);
      const used = new Set(containers.map((c) => c.imageId));
      const deleted: Array<{ Untagged?: string; Deleted?: string }> = [];
      for (const rec of await images.list({ signal: opts?.signal })) {
        if (used.has(rec.id) || (!all && rec.refs.length > 0)) continue;
        if (!keep({ created: rec.config.created ?? new Date(0).toISOString(), labels: rec.config.config?.Labels ?? {} })) continue;
        for (const ref of rec.refs) {
          await images.untag(ref);
          deleted.push({ Untagged: familiarize(ref) });
        }
        await images.removeEntries(rec.indexDigest ?? rec.manifestDigest);
        deleted.push({ Deleted: rec.id });
      }
      // Blobs nothing references any more go now; young ones stay (a build may be writing them).
      const r = await collectGarbage(root, { minAgeMs: 10 * 60_000, signal: opts?.signal });
      return { ImagesDeleted: deleted, SpaceReclaimed: r.reclaimedBytes };
    },
    async save(names, out, opts) {
      // A multi-platform image keeps its index and every platform here, as `kiln save` and Docker 25+ do.
      const items = await resolveSaveItems(images, names, root.content);
      await saveArchive(root.content, items, out, { format: 'docker', signal: opts?.signal });
    },
    async load(input, opts) {
      const loaded = await loadArchive(root, input, 'the uploaded archive', { signal: opts?.signal });
      return loaded.map((l) => (l.ref ? familiarize(l.ref) : l.id));
    },
    async remove(name, opts) {
      const rec = await images.resolve(name, opts);
      const ref = asReference(name);
      const out: Array<{ Untagged?: string; Deleted?: string }> = [];
      // As dockerd (daemon/images/image_delete.go): a running container's image cannot go even forced; a stopped
      // container's only when forced; untagging the last tag of a used image needs force and then leaves it.
      const users = await containersUsingImage(root.root, rec.id);
      const short = rec.id.replace(/^sha256:/, '').slice(0, 12);
      if (ref && rec.refs.includes(ref)) {
        const user = users.running ?? users.stopped;
        if (!opts.force && rec.refs.length === 1 && user) {
          throw new KilnError(
            'IMAGE_IN_USE',
            `conflict: unable to remove repository reference "${name}" (must force) - container ${user.id.slice(0, 12)} is using its referenced image ${short}`,
          );
        }
        // Used by a running container (only -f gets here then): the image stays, untagged, as dockerd keeps it.
        const keep = Boolean(users.running);
        await images.untag(ref, { keepDangling: keep });
        out.push({ Untagged: familiarize(ref) });
        if (rec.refs.length > 1 || keep) return out;
      } else {
        if (users.running) {
          throw new KilnError(
            'IMAGE_IN_USE',
            `conflict: unable to delete ${short} (cannot be forced) - image is being used by running container ${users.running.id.slice(0, 12)}`,
          );
        }
        if (rec.refs.length > 1 && !opts.force) {
          throw new KilnError('IMAGE_IN_USE', `conflict: unable to delete ${short} (must be forced) - image is referenced in multiple repositories`);
        }
        if (users.stopped && !opts.force) {
          throw new KilnError(
            'IMAGE_IN_USE',
            `conflict: unable to delete ${short} (must be forced) - image is being used by stopped container ${users.stopped.id.slice(0, 12)}`,
          );
        }
        for (const r of rec.refs) {
          await images.untag(r);
          out.push({ Untagged: familiarize(r) });
        }
      }
      await images.removeEntries(rec.manifestDigest);
      out.push({ Deleted: rec.id });
      return out;
    },
  };
}

/** `/system/df` and `/build/prune` over the store's disk usage and garbage collector. */
export function createSystemBackend(root: StoreRoot): SystemBackend {
  return {
    async df(opts) {
      return systemDiskUsage(root, opts);
    },
    async pruneBuildCache(opts) {
      // Young blobs are kept: a build running right now may be writing them (it also holds leases).
      const r = await collectGarbage(root, { all: opts.all, until: opts.until, keepStorage: opts.keepStorage, minAgeMs: 10 * 60_000, signal: opts.signal });
      return { CachesDeleted: r.removedRoots, SpaceReclaimed: r.reclaimedBytes };
    },
  };
}
