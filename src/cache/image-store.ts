/**
 * The image store: the `index.json` of the OCI layout at `<root>/oci`. Each tag is a manifest descriptor
 * annotated `org.opencontainers.image.ref.name` = the full normalised reference (`docker.io/library/busybox:latest`),
 * so `skopeo inspect oci:<root>/oci:docker.io/library/busybox:latest` reads it. A manifest that lost its last tag
 * to a re-tag stays listed without a name (Docker's dangling `<none>` image) until `prune`. index.json is replaced
 * atomically under the store lock; readers never lock.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../errors.js';
import { canonicalJson } from '../image/canonical-json.js';
import { digestHex, isDigest } from '../image/digest.js';
import { buildManifest, type ImageFormat } from '../image/manifest.js';
import { hostPlatform, platformOf, selectManifest } from '../image/platform.js';
import { familiarize, normalizeReference, parseReference, formatReference } from '../image/reference.js';
import { isIndexMediaType, MediaType, type Descriptor, type Digest, type ImageConfig, type Index, type Manifest, type Platform } from '../image/types.js';
import { writeFileAtomic } from './atomic-file.js';
import { STORE_LOCK, withLease } from './lease.js';
import { withLock } from './lock.js';
import type { ContentStore, IoOptions, WriteOptions } from './types.js';

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
/** containerd's annotation for the full image name; set too, for tools that read it. */
export const CONTAINERD_NAME_ANNOTATION = 'io.containerd.image.name';

/** One image as the CLI and the builder see it. `id` is the config digest (Docker's IMAGE ID). */
export interface ImageRecord {
  id: Digest;
  configDigest: Digest;
  config: ImageConfig;
  manifestDigest: Digest;
  manifest: Manifest;
  /** Media type of the manifest (OCI or Docker schema2). */
  mediaType: string;
  /** The manifest's descriptor (what a tag points to, or the chosen child of an index). */
  descriptor: Descriptor;
  /** When the tag points to an image index, its digest; `manifest` is the host platform's child. */
  indexDigest?: Digest;
  /** An index's platforms (`linux/amd64`, `linux/arm64`), in its order. */
  platforms?: string[];
  /** Full normalised references tagging this image (empty for a dangling image). */
  refs: string[];
  /** Bytes of config and layer blobs as stored (compressed). */
  size: number;
}

/** An entry of index.json: a tag (with `ref`) or a dangling image (without). */
export interface IndexEntry {
  ref?: string;
  descriptor: Descriptor;
}

export interface WriteImageOptions extends WriteOptions {
  config: ImageConfig;
  /** Layer blobs, already in the content store, in order (bottom first). */
  layers: Descriptor[];
  format?: ImageFormat;
  /** References to tag the new image with (normalised here). */
  tags?: string[];
  annotations?: Record<string, string>;
  /** The config blob, already stored byte-exact (archive loads keep the image ID); `config` is then only checked. */
  configBlob?: Descriptor;
}

export interface WrittenImage {
  manifest: Descriptor;
  manifestDigest: Digest;
  configDigest: Digest;
}

/** The image store API over one OCI layout (`createImageStore`, or `openRoot(dir).images`). */
export interface ImageStore {
  /** Resolves a reference, `name@sha256:…`, an image ID or its unique prefix; throws IMAGE_NOT_FOUND. */
  resolve(refOrId: string, opts?: IoOptions & { platform?: Platform }): Promise<ImageRecord>;
  /** Like resolve, undefined when absent. */
  find(refOrId: string, opts?: IoOptions & { platform?: Platform }): Promise<ImageRecord | undefined>;
  /** Points `ref` at a manifest (or index) already in the content store. Returns the normalised ref. */
  tag(ref: string, target: Descriptor): Promise<string>;
  /** Removes a tag; returns what it pointed to, or throws IMAGE_NOT_FOUND. `keepDangling`: an image losing its last tag stays, untagged. */
  untag(ref: string, opts?: { keepDangling?: boolean }): Promise<Descriptor>;
  /** Removes every index entry (tags and dangling) for a manifest digest. */
  removeEntries(digest: Digest): Promise<void>;
  /** index.json entries as they are. */
  entries(): Promise<IndexEntry[]>;
  /** One record per distinct manifest in index.json (tagged or dangling), skipping entries whose blobs are gone. */
  list(opts?: IoOptions): Promise<ImageRecord[]>;
  /** Loads a manifest (or index) descriptor into a record. */
  load(target: Descriptor, refs?: string[], opts?: IoOptions & { platform?: Platform }): Promise<ImageRecord>;
  /** Read-modify-write of index.json for a caller that already holds the store lock (gc). */
  rewriteIndexLocked(fn: (idx: Index) => void | Promise<void>): Promise<void>;
  /** Writes config and manifest as canonical JSON, then tags. Layers must be in the store (BLOB_NOT_FOUND). */
  writeImage(opts: WriteImageOptions): Promise<WrittenImage>;
}

export interface ImageStoreOptions {
  /** The OCI layout directory (holds index.json). */
  layoutDir: string;
  content: ContentStore;
  /** Directory for the store lock. */
  locksDir: string;
  /** Directory of lease files (writeImage leases its blobs until they are tagged). */
  leasesDir: string;
}

const EMPTY_INDEX: Index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };

export function createImageStore(o: ImageStoreOptions): ImageStore {
  const indexPath = join(o.layoutDir, 'index.json');

  async function readIndex(): Promise<Index> {
    let text: string;
    try {
      text = readFileSync(indexPath, 'utf8'); // every build and lookup reads it: synchronous, as the blob reads
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ...EMPTY_INDEX, manifests: [] };
      throw err;
    }
    try {
      const idx = JSON.parse(text) as Index;
      if (!Array.isArray(idx.manifests)) throw new Error('no manifests array');
      return idx;
    } catch (err) {
      throw new KilnError('STORE_CORRUPT', `${indexPath} is not a valid OCI index: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Read-modify-write of index.json under the store lock. */
  async function updateIndex<T>(fn: (idx: Index) => T | Promise<T>): Promise<T> {
    return withLock(o.locksDir, STORE_LOCK, async () => {
      const idx = await readIndex();
      const result = await fn(idx);
      await writeFileAtomic(indexPath, canonicalJson(idx));
      return result;
    });
  }

  const refOf = (d: Descriptor): string | undefined => d.annotations?.[REF_NAME_ANNOTATION];

  function toEntries(idx: Index): IndexEntry[] {
    return idx.manifests.map((d) => {
      const ref = refOf(d);
      return ref === undefined ? { descriptor: d } : { ref, descriptor: d };
    });
  }

  async function load(target: Descriptor, refs: string[] = [], opts: IoOptions & { platform?: Platform } = {}): Promise<ImageRecord> {
    let descriptor: Descriptor = { mediaType: target.mediaType, digest: target.digest, size: target.size };
    let indexDigest: Digest | undefined;
    let indexPlatforms: string[] | undefined;
    let doc = await o.content.readJson<Manifest & Index>(target.digest, opts);
    if (isIndexMediaType(target.mediaType) || isIndexMediaType(doc.mediaType) || (Array.isArray(doc.manifests) && !doc.config)) {
      const child = selectManifest(doc.manifests ?? [], opts.platform);
      const platforms = (doc.manifests ?? []).flatMap((m) => (m.platform ? [platformOf(m.platform)] : []));
      if (!child) {
        const want = platformOf(opts.platform ?? hostPlatform());
        throw new KilnError(
          'PLATFORM_NOT_FOUND',
          `image ${refs[0] ? familiarize(refs[0]) : target.digest} has no manifest for platform ${want} (it has ${platforms.join(', ') || 'none with a platform'})`,
          { hint: `build or pull it for ${want}, or ask for one of its platforms (--platform)`, details: { platform: want, platforms } },
        );
      }
      indexDigest = target.digest;
      indexPlatforms = platforms;
      descriptor = { mediaType: child.mediaType, digest: child.digest, size: child.size };
      if (child.platform) descriptor.platform = child.platform;
      doc = await o.content.readJson<Manifest & Index>(child.digest, opts);
    }
    const manifest = doc as Manifest;
    if (!manifest.config || !Array.isArray(manifest.layers)) {
      throw new KilnError('STORE_CORRUPT', `manifest ${descriptor.digest} has no config or layers`);
    }
    const config = await o.content.readJson<ImageConfig>(manifest.config.digest, opts);
    const size = manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0);
    const rec: ImageRecord = {
      id: manifest.config.digest,
      configDigest: manifest.config.digest,
      config,
      manifestDigest: descriptor.digest,
      manifest,
      mediaType: manifest.mediaType ?? descriptor.mediaType,
      descriptor,
      refs,
      size,
    };
    if (indexDigest) rec.indexDigest = indexDigest;
    if (indexPlatforms) rec.platforms = indexPlatforms;
    return rec;
  }

  async function list(opts: IoOptions = {}): Promise<ImageRecord[]> {
    const entries = toEntries(await readIndex());
    const byDigest = new Map<Digest, { d: Descriptor; refs: string[] }>();
    for (const e of entries) {
      const g = byDigest.get(e.descriptor.digest) ?? { d: e.descriptor, refs: [] };
      if (e.ref !== undefined) g.refs.push(e.ref);
      byDigest.set(e.descriptor.digest, g);
    }
    const out: ImageRecord[] = [];
    for (const { d, refs } of byDigest.values()) {
      try {
        out.push(
          await load(d, refs, opts).catch(async (err: unknown) => {
            // An index without this host's platform is still listed, by its first platform.
            if ((err as KilnError).code !== 'PLATFORM_NOT_FOUND') throw err;
            const first = (await o.content.readJson<Index>(d.digest, opts)).manifests.find((m) => m.platform)?.platform;
            if (!first) throw err;
            return load(d, refs, { ...opts, platform: first });
          }),
        );
      } catch (err) {
        if ((err as KilnError).code === 'BLOB_NOT_FOUND' || (err as KilnError).code === 'STORE_CORRUPT') continue;
        throw err;
      }
    }
    return out;
  }

  async function find(input: string, opts: IoOptions & { platform?: Platform } = {}): Promise<ImageRecord | undefined> {
    const s = input.trim();
    const entries = toEntries(await readIndex());
    const refsFor = (digest: Digest) => entries.filter((e) => e.descriptor.digest === digest && e.ref).map((e) => e.ref!);

    let full: string | undefined;
    try {
      full = normalizeReference(s);
    } catch {
      full = undefined;
    }
    if (full !== undefined) {
      const parsed = parseReference(s);
      if (parsed.digest) {
        const hit = entries.find((e) => e.descriptor.digest === parsed.digest);
        if (hit) return load(hit.descriptor, refsFor(parsed.digest), opts);
        if (await o.content.has(parsed.digest)) {
          return load({ mediaType: MediaType.OciManifest, digest: parsed.digest, size: 0 }, [], opts);
        }
        return undefined;
      }
      const hit = entries.find((e) => e.ref === full);
      if (hit) return load(hit.descriptor, refsFor(hit.descriptor.digest), opts);
    }
    // An image ID (config digest), a manifest digest, or a unique prefix of either.
    const m = /^(?:sha256:)?([a-f0-9]{1,64})$/.exec(s);
    if (!m) return undefined;
    const prefix = m[1]!;
    const images = await list(opts);
    // A multi-platform build prints its index's digest as the image ID (as Docker's containerd store): that finds it too.
    const exact = images.filter(
      (r) => digestHex(r.id) === prefix || digestHex(r.manifestDigest) === prefix || (r.indexDigest !== undefined && digestHex(r.indexDigest) === prefix),
    );
    if (exact.length > 0) return exact[0];
    if (prefix.length < 4 && !s.startsWith('sha256:')) return undefined;
    const hits = images.filter((r) => digestHex(r.id).startsWith(prefix));
    const ids = new Set(hits.map((r) => r.id));
    if (ids.size > 1) throw new KilnError('INVALID_ARGUMENT', `image ID prefix "${s}" is ambiguous (${ids.size} images)`);
    return hits[0];
  }

  async function resolve(input: string, opts: IoOptions & { platform?: Platform } = {}): Promise<ImageRecord> {
    const rec = await find(input, opts);
    if (rec) return rec;
    throw new KilnError('IMAGE_NOT_FOUND', `image "${input}" not found`, {
      hint: 'see `kiln images`; `kiln base busybox` makes busybox:latest offline',
    });
  }

  /** Tagless entry for `d` unless another entry still names it. */
  function keepDangling(idx: Index, d: Descriptor): void {
    if (idx.manifests.some((x) => x.digest === d.digest)) return;
    idx.manifests.push({ mediaType: d.mediaType, digest: d.digest, size: d.size });
  }

  async function tag(ref: string, target: Descriptor): Promise<string> {
    const full = normalizeReference(ref);
    if (parseReference(ref).digest) {
      throw new KilnError('INVALID_REFERENCE', `cannot tag with a digest reference "${ref}"`);
    }
    const desc: Descriptor = {
      mediaType: target.mediaType,
      digest: target.digest,
      size: target.size,
      annotations: { [CONTAINERD_NAME_ANNOTATION]: full, [REF_NAME_ANNOTATION]: full },
    };
    if (target.platform) desc.platform = target.platform;
    await updateIndex(async (idx) => {
      // Checked under the lock: a concurrent prune cannot remove the manifest between check and tag.
      if (!(await o.content.has(target.digest))) {
        throw new KilnError('BLOB_NOT_FOUND', `cannot tag ${familiarize(full)}: manifest ${target.digest} is not in the store`);
      }
      const old = idx.manifests.find((d) => refOf(d) === full);
      idx.manifests = idx.manifests.filter((d) => refOf(d) !== full && !(d.digest === target.digest && refOf(d) === undefined));
      idx.manifests.push(desc);
      if (old && old.digest !== target.digest) keepDangling(idx, old);
      idx.manifests.sort((a, b) => (refOf(a) ?? '\uffff' + a.digest).localeCompare(refOf(b) ?? '\uffff' + b.digest));
    });
    return full;
  }

  async function untag(ref: string, opts?: { keepDangling?: boolean }): Promise<Descriptor> {
    const full = normalizeReference(ref);
    return updateIndex((idx) => {
      const old = idx.manifests.find((d) => refOf(d) === full);
      if (!old) throw new KilnError('IMAGE_NOT_FOUND', `no such image tag "${familiarize(full)}"`);
      idx.manifests = idx.manifests.filter((d) => d !== old);
      if (opts?.keepDangling) keepDangling(idx, old);
      return old;
    });
  }

  async function removeEntries(digest: Digest): Promise<void> {
    await updateIndex((idx) => {
      idx.manifests = idx.manifests.filter((d) => d.digest !== digest);
    });
  }

  async function writeImage(w: WriteImageOptions): Promise<WrittenImage> {
    const format = w.format ?? 'oci';
    if (w.config.rootfs?.diff_ids?.length !== w.layers.length) {
      throw new KilnError('INVALID_ARGUMENT', `image config lists ${w.config.rootfs?.diff_ids?.length ?? 0} diff_ids for ${w.layers.length} layers`);
    }
    if (!w.lease) return withLease({ leases: o.leasesDir, locks: o.locksDir }, (lease) => writeImage({ ...w, lease }));
    for (const l of w.layers) if (!isDigest(l.digest)) throw new KilnError('INVALID_ARGUMENT', `layer digest "${l.digest}" is not a sha256 digest`);
    // Lease the layers before checking them: once leased, a concurrent prune keeps them until the tag exists.
    await w.lease.add(...w.layers.map((l) => l.digest));
    for (const l of w.layers) {
      if (!(await o.content.has(l.digest))) throw new KilnError('BLOB_NOT_FOUND', `layer ${l.digest} is not in the store`);
    }
    const wopts: WriteOptions = { signal: w.signal, lease: w.lease };
    let configBlob: { digest: Digest; size: number };
    if (w.configBlob) {
      await w.lease.add(w.configBlob.digest);
      if (!(await o.content.has(w.configBlob.digest))) throw new KilnError('BLOB_NOT_FOUND', `config ${w.configBlob.digest} is not in the store`);
      configBlob = w.configBlob;
    } else {
      configBlob = await o.content.writeBuffer(canonicalJson(w.config), {}, wopts);
    }
    const manifest = buildManifest({ mediaType: MediaType.OciConfig, digest: configBlob.digest, size: configBlob.size }, w.layers, format, w.annotations);
    const mBlob = await o.content.writeBuffer(canonicalJson(manifest), {}, wopts);
    const desc: Descriptor = { mediaType: manifest.mediaType!, digest: mBlob.digest, size: mBlob.size };
    if (w.tags && w.tags.length > 0) {
      for (const t of w.tags) await tag(t, desc);
    } else {
      // Untagged images are still recorded (dangling), so they are listed and kept until prune.
      await updateIndex((idx) => keepDangling(idx, desc));
    }
    return { manifest: desc, manifestDigest: mBlob.digest, configDigest: configBlob.digest };
  }

  return {
    resolve,
    find,
    tag,
    untag,
    removeEntries,
    entries: async () => toEntries(await readIndex()),
    list,
    load,
    writeImage,
    async rewriteIndexLocked(fn) {
      const idx = await readIndex();
      await fn(idx);
      await writeFileAtomic(indexPath, canonicalJson(idx));
    },
  };
}

/** The familiar display name of a full reference split into repository and tag (`<none>` when absent). */
export function displayRepoTag(full: string | undefined): { repository: string; tag: string } {
  if (!full) return { repository: '<none>', tag: '<none>' };
  try {
    const r = parseReference(full, { defaultTag: false });
    const fam = familiarize(formatReference({ domain: r.domain, path: r.path }));
    return { repository: fam, tag: r.tag ?? '<none>' };
  } catch {
    return { repository: full, tag: '<none>' };
  }
}
