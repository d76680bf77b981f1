/**
 * `kiln save`: images to a tar archive, streamed blob by blob (memory stays flat for any image size).
 *
 * - `docker` (default): the layout `docker save` writes since Docker 25, which older Dockers and skopeo read
 *   as a docker-archive and OCI tools read as an image layout: `manifest.json` (Config, RepoTags, Layers),
 *   `repositories`, `oci-layout`, `index.json`, and `blobs/sha256/…` with the config as stored and every layer
 *   as an uncompressed tar named by its diff ID (what `docker load` verifies against the config). Compressed
 *   layers are decompressed twice, once to learn the size a tar header needs (and verify the diff ID), once
 *   to stream, instead of spooling to disk.
 * - `oci`: an OCI image layout tar with the blobs exactly as stored (compressed layers, original manifests).
 *   Tags are `org.opencontainers.image.ref.name` = familiar reference (`busybox:latest`), as skopeo writes.
 */
import { createHash } from 'node:crypto';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ImageRecord } from '../cache/image-store.js';
import { CONTAINERD_NAME_ANNOTATION, REF_NAME_ANNOTATION } from '../cache/image-store.js';
import type { ContentStore, IoOptions } from '../cache/types.js';
import { KilnError } from '../errors.js';
import { canonicalJson } from '../image/canonical-json.js';
import { digestHex, sha256Digest } from '../image/digest.js';
import { familiarize, familiarName, formatReference, parseReference } from '../image/reference.js';
import { MediaType, type Descriptor, type Digest, type Manifest } from '../image/types.js';
import { compressionOfMediaType, createDecompressStream } from '../layers/compression.js';
import { packTar, type TarInput } from '../tar/writer.js';

export type ArchiveFormat = 'docker' | 'oci';

/** One image to save and the references to record for it (full normalised form). */
export interface SaveItem {
  image: ImageRecord;
  refs: string[];
  /**
   * A multi-platform image: the index and every platform's image. `oci` keeps the stored index and manifests
   * byte for byte; `docker` writes each platform's image as Docker 25+ does (a manifest.json entry each, the tags
   * on the first) and an OCI index of the rewritten manifests with their platforms, which index.json names.
   */
  index?: { descriptor: Descriptor; children: ImageRecord[] };
}

export interface SaveOptions extends IoOptions {
  format?: ArchiveFormat;
}

/** One member; `body` is a Buffer or a stream of exactly `size` bytes (the writer checks the count). */
function member(name: string, size: number, body: Buffer | Readable): TarInput {
  const e: TarInput = { name, type: 'file', size, mode: 0o644, uid: 0, gid: 0, mtime: 0 };
  if (Buffer.isBuffer(body)) e.data = body;
  else e.stream = body;
  return e;
}

/** Size and digest of a compressed layer's uncompressed tar; throws DIGEST_MISMATCH if it is not `diffId`. */
async function measureLayer(content: ContentStore, layer: Descriptor, diffId: Digest, opts: IoOptions): Promise<number> {
  const hash = createHash('sha256');
  let size = 0;
  await pipeline(
    await content.read(layer.digest, opts),
    createDecompressStream('auto'),
    new Writable({
      write(chunk: Buffer, _e, cb) {
        hash.update(chunk);
        size += chunk.length;
        cb();
      },
    }),
    { signal: opts.signal },
  );
  const got = `sha256:${hash.digest('hex')}`;
  if (got !== diffId) {
    throw new KilnError('DIGEST_MISMATCH', `layer ${layer.digest} decompresses to ${got}, but the image config lists ${diffId}`, {
      hint: 'the store is damaged; run `kiln store verify`',
    });
  }
  return size;
}

/** Writes `items` as a tar archive to `out`. Throws BLOB_NOT_FOUND if a blob is missing from the store. */
export async function saveArchive(content: ContentStore, items: SaveItem[], out: Writable, opts: SaveOptions = {}): Promise<void> {
  await pipeline(packTar(members(content, items, opts), { signal: opts.signal }), out, { signal: opts.signal });
}

/** The archive's members in order; blobs are opened only when the writer pulls them, so one stream is open at a time. */
async function* members(content: ContentStore, items: SaveItem[], opts: SaveOptions): AsyncGenerator<TarInput> {
  const format = opts.format ?? 'docker';
  const written = new Set<string>();
  const blob = async (name: string, size: number, body: () => Promise<Buffer | Readable>): Promise<TarInput[]> => {
    if (written.has(name)) return [];
    written.add(name);
    return [member(name, size, await body())];
  };
  const blobName = (d: Digest) => `blobs/sha256/${digestHex(d)}`;
  yield member('oci-layout', 30, Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
  const index: Descriptor[] = [];
  const dockerManifest: Array<{ Config: string; RepoTags: string[] | null; Layers: string[] }> = [];
  const repositories: Record<string, Record<string, string>> = {};
  // An index's platforms come first, each written as an image of its own, then the index listing them.
  const flat: SaveItem[] = items.flatMap((it) => (it.index ? [...it.index.children.map((c) => ({ image: c, refs: [] })), it] : [it]));
  const childImages = new Set(items.flatMap((it) => it.index?.children ?? []));
  let children: Descriptor[] = [];
  for (const item of flat) {
    const { image, refs } = item;
    opts.signal?.throwIfAborted();
    if (item.index) {
      // Every platform's image is written above; now the index itself, named by the tags.
      let desc = item.index.descriptor;
      if (format === 'oci') {
        yield* await blob(blobName(desc.digest), desc.size, () => content.read(desc.digest, opts));
      } else {
        const bytes = Buffer.from(canonicalJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: children }));
        desc = { mediaType: MediaType.OciIndex, digest: sha256Digest(bytes), size: bytes.length };
        yield* await blob(blobName(desc.digest), bytes.length, async () => bytes);
      }
      // docker load tags what manifest.json names: the first platform's entry carries the tags.
      const first = dockerManifest[dockerManifest.length - item.index.children.length];
      if (format === 'docker' && first && refs.length) first.RepoTags = refs.map(familiarize);
      if (refs.length === 0) index.push(desc);
      for (const r of refs) {
        const tag = parseReference(r).tag ?? 'latest';
        index.push({ ...desc, annotations: { [CONTAINERD_NAME_ANNOTATION]: r, [REF_NAME_ANNOTATION]: format === 'oci' ? familiarize(r) : tag } });
      }
      children = [];
      continue;
    }
    const isChild = childImages.has(image);
    const m = image.manifest;
    const cfg = m.config;
    yield* await blob(blobName(cfg.digest), cfg.size, () => content.read(cfg.digest, opts));
    let manifestDesc: Descriptor;
    if (format === 'oci') {
      for (const l of m.layers) yield* await blob(blobName(l.digest), l.size, () => content.read(l.digest, opts));
      yield* await blob(blobName(image.manifestDigest), image.descriptor.size, () => content.read(image.manifestDigest, opts));
      manifestDesc = { mediaType: image.descriptor.mediaType, digest: image.manifestDigest, size: image.descriptor.size };
    } else {
      const diffIds = image.config.rootfs.diff_ids;
      if (diffIds.length !== m.layers.length) {
        throw new KilnError('STORE_CORRUPT', `image ${image.id}: ${m.layers.length} layers but ${diffIds.length} diff_ids`);
      }
      const layers: Descriptor[] = [];
      for (const [i, l] of m.layers.entries()) {
        const diffId = diffIds[i]!;
        const plain = compressionOfMediaType(l.mediaType) === 'none';
        const size = plain ? l.size : await measureLayer(content, l, diffId, opts);
        layers.push({ mediaType: MediaType.OciLayer, digest: diffId, size });
        yield* await blob(blobName(diffId), size, async () => {
          const src = await content.read(l.digest, opts);
          if (plain) return src;
          const inflate = createDecompressStream('auto');
          pipeline(src, inflate).catch((err) => inflate.destroy(err));
          return inflate;
        });
      }
      const om: Manifest = {
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { mediaType: MediaType.OciConfig, digest: cfg.digest, size: cfg.size },
        layers,
      };
      const bytes = Buffer.from(canonicalJson(om));
      manifestDesc = { mediaType: MediaType.OciManifest, digest: sha256Digest(bytes), size: bytes.length };
      yield* await blob(blobName(manifestDesc.digest), bytes.length, async () => bytes);
      dockerManifest.push({
        Config: blobName(cfg.digest),
        RepoTags: refs.length > 0 ? refs.map(familiarize) : null,
        Layers: layers.map((l) => blobName(l.digest)),
      });
      for (const r of refs) {
        const p = parseReference(r);
        if (p.tag === undefined) continue;
        (repositories[familiarName(p)] ??= {})[p.tag] = digestHex(diffIds[diffIds.length - 1] ?? cfg.digest);
      }
    }
    if (isChild) {
      // A platform of an index: listed in the index, not in index.json.
      const platform = image.descriptor.platform ?? {
        os: image.config.os,
        architecture: image.config.architecture,
        ...(image.config.variant ? { variant: image.config.variant } : {}),
      };
      children.push({ ...manifestDesc, platform });
      continue;
    }
    if (refs.length === 0) index.push(manifestDesc);
    for (const r of refs) {
      const tag = parseReference(r).tag ?? 'latest';
      index.push({
        ...manifestDesc,
        annotations: { [CONTAINERD_NAME_ANNOTATION]: r, [REF_NAME_ANNOTATION]: format === 'oci' ? familiarize(r) : tag },
      });
    }
  }
  const idx = Buffer.from(canonicalJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: index }));
  yield member('index.json', idx.length, idx);
  if (format === 'docker') {
    const mj = Buffer.from(JSON.stringify(dockerManifest));
    yield member('manifest.json', mj.length, mj);
    const rj = Buffer.from(JSON.stringify(repositories));
    yield member('repositories', rj.length, rj);
  }
}

/** Collects what to save for `names` (references or IDs): one item per image, with the references named. */
export async function resolveSaveItems(
  images: { resolve(n: string): Promise<ImageRecord>; load?(d: Descriptor): Promise<ImageRecord> },
  names: string[],
  content?: ContentStore,
): Promise<SaveItem[]> {
  const byManifest = new Map<Digest, SaveItem>();
  for (const n of names) {
    const image = await images.resolve(n);
    let full: string | undefined;
    try {
      const p = parseReference(n);
      if (!p.digest) full = formatReference(p);
    } catch {
      full = undefined;
    }
    const item: SaveItem = byManifest.get(image.manifestDigest) ?? { image, refs: [] };
    // A multi-platform image keeps its index: every platform whose manifest is here goes into the archive.
    if (image.indexDigest && content && images.load && !item.index) {
      const doc = await content.readJson<{ manifests: Descriptor[] }>(image.indexDigest);
      const children: ImageRecord[] = [];
      for (const m of doc.manifests) if (await content.has(m.digest)) children.push({ ...(await images.load(m)), descriptor: m });
      const size = (await content.info(image.indexDigest))?.size ?? 0;
      const mediaType = (doc as { mediaType?: string }).mediaType ?? MediaType.OciIndex;
      item.index = { descriptor: { mediaType, digest: image.indexDigest, size }, children };
    }
    if (full && image.refs.includes(full) && !item.refs.includes(full)) item.refs.push(full);
    byManifest.set(image.manifestDigest, item);
  }
  return [...byManifest.values()];
}
