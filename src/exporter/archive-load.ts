/**
 * `kiln load`: images from a tar archive (plain or compressed) into the store. Accepts
 *  - OCI image layouts (`index.json` + `blobs/`), as `kiln save --format oci`, skopeo `oci-archive:`, BuildKit;
 *  - docker-archives (`manifest.json`): Docker ≥25 (which is also an OCI layout), older Docker
 *    (`<id>/layer.tar`, `<id>.json`), and skopeo `docker-archive:` (layer tars, symlinked `layer.tar`s).
 *
 * One streaming pass: every regular member goes straight into the content store under a lease (members named
 * `blobs/sha256/<hex>` are verified against their name while they stream); the small metadata files are kept
 * in memory. Then the images are checked (every blob present, sizes and diff IDs right) and only then tagged.
 * On any failure the blobs this load added are removed again, so a bad archive leaves the store as it was.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { posix } from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { collectGarbage } from '../cache/gc.js';
import { CONTAINERD_NAME_ANNOTATION, REF_NAME_ANNOTATION } from '../cache/image-store.js';
import type { StoreRoot } from '../cache/root.js';
import type { BlobInfo, IoOptions } from '../cache/types.js';
import { fromSystemError, KilnError } from '../errors.js';
import { checkConfig, checkDescriptor, checkManifest } from '../image/manifest.js';
import { formatReference, normalizeReference, parseReference } from '../image/reference.js';
import { isIndexMediaType, MediaType, type Descriptor, type Digest, type Index, type Manifest } from '../image/types.js';
import { createDecompressStream, sniffCompression } from '../layers/compression.js';
import { readTar } from '../tar/reader.js';

/** Metadata members kept in memory rather than stored as blobs. */
const METADATA = new Set(['manifest.json', 'repositories', 'index.json', 'oci-layout']);
const MAX_METADATA = 16 << 20;

export interface LoadedImage {
  /** Full normalised reference, when the archive names one. */
  ref?: string;
  id: Digest;
  manifestDigest: Digest;
}

interface ArchiveContents {
  blobs: Map<string, BlobInfo>;
  links: Map<string, string>;
  meta: Map<string, Buffer>;
  added: Set<Digest>;
}

function bad(where: string, why: string, code: 'ARCHIVE_INVALID' | 'BLOB_NOT_FOUND' | 'DIGEST_MISMATCH' | 'SIZE_MISMATCH' = 'ARCHIVE_INVALID'): KilnError {
  return new KilnError(code, `${where}: ${why}`);
}

/** `./a//b` → `a/b`; throws UNSAFE_PATH for absolute names and `..`. */
function memberKey(name: string, where: string): string {
  if (name.startsWith('/')) throw new KilnError('UNSAFE_PATH', `${where}: member "${name}" is an absolute path`);
  if (name.split('/').includes('..')) throw new KilnError('UNSAFE_PATH', `${where}: member "${name}" contains ".."`);
  return posix.normalize(name).replace(/^\.\//, '');
}

async function readArchive(
  root: StoreRoot,
  input: Readable,
  where: string,
  lease: ReturnType<StoreRoot['lease']>,
  added: Set<Digest>,
  opts: IoOptions,
): Promise<ArchiveContents> {
  const c: ArchiveContents = { blobs: new Map(), links: new Map(), meta: new Map(), added };
  const decompress = createDecompressStream('auto');
  const feed = pipeline(input, decompress, { signal: opts.signal }).catch((err) => {
    decompress.destroy(err);
    throw err;
  });
  feed.catch(() => {});
  try {
    for await (const m of readTar(decompress, { source: where, signal: opts.signal })) {
      const key = memberKey(m.entry.name, where);
      if (m.entry.type === 'symlink' || m.entry.type === 'link') {
        const target = m.entry.type === 'symlink' ? posix.join(posix.dirname(key), m.entry.linkname ?? '') : (m.entry.linkname ?? '');
        c.links.set(key, memberKey(posix.normalize(target), where));
        continue;
      }
      if (m.entry.type !== 'file') continue;
      if (METADATA.has(key)) {
        if (m.entry.size > MAX_METADATA) throw bad(where, `${key} is ${m.entry.size} bytes; too large`);
        const parts: Buffer[] = [];
        for await (const b of m.body) parts.push(Buffer.from(b));
        c.meta.set(key, Buffer.concat(parts));
        continue;
      }
      const named = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(key);
      const expected = named ? { digest: `sha256:${named[1]}`, size: m.entry.size } : { size: m.entry.size };
      const w = await root.content.writer({ lease, signal: opts.signal });
      try {
        for await (const b of m.body) {
          // A writer that failed (ENOSPC) never drains: check for its error, or the load waits forever.
          if (w.stream.errored) throw w.stream.errored;
          if (!w.stream.write(b)) await once(w.stream, 'drain');
        }
        if (w.stream.errored) throw w.stream.errored;
        const pre = expected.digest ? await root.content.has(expected.digest) : false;
        const info = await w.commit(expected).catch((err: KilnError) => {
          throw new KilnError(err.code ?? 'ARCHIVE_INVALID', `${where}: member ${key}: ${err.message}`, { cause: err });
        });
        if (!pre) added.add(info.digest);
        c.blobs.set(key, info);
      } catch (err) {
        await w.abort();
        throw err;
      }
    }
    await feed;
  } catch (err) {
    if (err instanceof KilnError) throw err;
    if (isStoreFull(err)) throw fromSystemError(err, `${where}: storing its blobs`)!;
    throw new KilnError('ARCHIVE_INVALID', `${where}: cannot read the archive: ${(err as Error).message}`, { cause: err });
  }
  return c;
}

/** A full disk or quota while writing to the store: the store's fault, not the archive's. */
function isStoreFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** The blob stored for member `name` (following symlinks written by skopeo), or undefined. */
function blobOf(c: ArchiveContents, name: string): BlobInfo | undefined {
  let key = posix.normalize(name).replace(/^\.\//, '');
  for (let hops = 0; hops < 10 && !c.blobs.has(key) && c.links.has(key); hops++) key = c.links.get(key)!;
  return c.blobs.get(key);
}

function parseJson<T>(c: ArchiveContents, name: string, where: string): T | undefined {
  const b = c.meta.get(name);
  if (!b) return undefined;
  try {
    return JSON.parse(b.toString('utf8')) as T;
  } catch (err) {
    throw bad(where, `${name} is not valid JSON (${(err as Error).message})`);
  }
}

/** The reference an index entry names: containerd's full name, else an OCI ref.name that is a whole reference. */
function refOfEntry(d: Descriptor): string | undefined {
  const full = d.annotations?.[CONTAINERD_NAME_ANNOTATION];
  if (full) return normalizeReference(full);
  const name = d.annotations?.[REF_NAME_ANNOTATION];
  if (!name || !/[:/]/.test(name)) return undefined; // a bare tag ("latest") names no repository
  try {
    const p = parseReference(name);
    return p.digest ? undefined : formatReference(p);
  } catch {
    return undefined;
  }
}

/** Checks that `d` (manifest or index) and everything it names are in the store, with the right sizes. */
async function checkComplete(root: StoreRoot, d: Descriptor, where: string, depth = 0): Promise<void> {
  const have = async (x: Descriptor, what: string) => {
    const info = await root.content.info(x.digest);
    if (!info) throw bad(where, `${what} ${x.digest} is not in the archive`, 'BLOB_NOT_FOUND');
    if (info.size !== x.size) throw bad(where, `${what} ${x.digest} is ${info.size} bytes, its descriptor says ${x.size}`, 'SIZE_MISMATCH');
  };
  await have(d, 'manifest');
  const doc = await root.content.readJson<Manifest & Index>(d.digest);
  if (isIndexMediaType(d.mediaType) || (Array.isArray(doc.manifests) && !doc.config)) {
    if (depth > 0) throw bad(where, `nested index ${d.digest}`);
    const present = [];
    for (const child of doc.manifests ?? []) {
      checkDescriptor(child, `${where}: index ${d.digest}`);
      if (await root.content.has(child.digest)) present.push(child);
    }
    if (present.length === 0) throw bad(where, `index ${d.digest} has none of its manifests in the archive`, 'BLOB_NOT_FOUND');
    for (const child of present) await checkComplete(root, child, where, depth + 1);
    return;
  }
  const m = checkManifest(doc, `${where}: manifest ${d.digest}`);
  await have(m.config, 'config');
  checkConfig(await root.content.readJson(m.config.digest), `${where}: config ${m.config.digest}`);
  for (const l of m.layers) await have(l, 'layer');
}

/** sha256 of a layer blob's uncompressed content. */
async function diffIdOf(root: StoreRoot, digest: Digest, opts: IoOptions): Promise<{ diffId: Digest; compression: string }> {
  const src = await root.content.read(digest, opts);
  const hash = createHash('sha256');
  let head: Buffer | undefined;
  const inflate = createDecompressStream('auto');
  await pipeline(
    src,
    async function* (chunks: AsyncIterable<Buffer>) {
      for await (const ch of chunks) {
        head ??= Buffer.from(ch.subarray(0, 8));
        yield ch;
      }
    },
    inflate,
    new Writable({
      write(ch: Buffer, _e, cb) {
        hash.update(ch);
        cb();
      },
    }),
    { signal: opts.signal },
  );
  return { diffId: `sha256:${hash.digest('hex')}`, compression: sniffCompression(head ?? Buffer.alloc(0)) };
}

const LAYER_TYPE: Record<string, string> = { none: MediaType.DockerLayer, gzip: MediaType.DockerLayerGzip, zstd: MediaType.OciLayerZstd };

/** Turns manifest.json entries into stored images (docker-archive without a usable index.json). */
async function loadDockerManifest(
  root: StoreRoot,
  c: ArchiveContents,
  where: string,
  lease: ReturnType<StoreRoot['lease']>,
  opts: IoOptions,
): Promise<Array<{ refs: string[]; target: Descriptor; id: Digest }>> {
  const entries = parseJson<Array<{ Config?: string; RepoTags?: string[] | null; Layers?: string[] }>>(c, 'manifest.json', where);
  if (!Array.isArray(entries)) throw bad(where, 'manifest.json is not a list of images');
  const out = [];
  for (const [i, e] of entries.entries()) {
    if (typeof e.Config !== 'string' || !Array.isArray(e.Layers)) throw bad(where, `manifest.json entry ${i} has no Config or Layers`);
    const cfgBlob = blobOf(c, e.Config);
    if (!cfgBlob) throw bad(where, `manifest.json names config ${e.Config}, which is not in the archive`, 'BLOB_NOT_FOUND');
    const config = checkConfig(await root.content.readJson(cfgBlob.digest), `${where}: ${e.Config}`);
    if (config.rootfs.diff_ids.length !== e.Layers.length) {
      throw bad(where, `${e.Config} lists ${config.rootfs.diff_ids.length} diff_ids for ${e.Layers.length} layers`);
    }
    const layers: Descriptor[] = [];
    for (const [j, name] of e.Layers.entries()) {
      const blob = blobOf(c, name);
      if (!blob) throw bad(where, `manifest.json names layer ${name}, which is not in the archive`, 'BLOB_NOT_FOUND');
      const want = config.rootfs.diff_ids[j]!;
      const got =
        blob.digest === want
          ? { diffId: want, compression: 'none' }
          : await diffIdOf(root, blob.digest, opts).catch((err: unknown) => {
              if (opts.signal?.aborted) throw err;
              // Name the archive and the member: "corrupt gzip stream" alone does not say which of the layers.
              const code = err instanceof KilnError ? err.code : 'ARCHIVE_INVALID';
              throw new KilnError(code, `${where}: layer ${name}: ${(err as Error).message}`, { cause: err });
            });
      if (got.diffId !== want) throw bad(where, `layer ${name} has content ${got.diffId}, but the config lists ${want}`, 'DIGEST_MISMATCH');
      layers.push({ mediaType: LAYER_TYPE[got.compression] ?? MediaType.DockerLayer, digest: blob.digest, size: blob.size });
    }
    const refs = (e.RepoTags ?? []).map((t) => normalizeReference(t));
    const written = await root.images.writeImage({
      config,
      configBlob: { mediaType: MediaType.DockerConfig, digest: cfgBlob.digest, size: cfgBlob.size },
      layers,
      format: 'docker',
      tags: [],
      lease,
      signal: opts.signal,
    });
    out.push({ refs, target: written.manifest, id: cfgBlob.digest });
  }
  return out;
}

/** Loads an archive from `input` (`where` names it in errors and messages). */
export async function loadArchive(root: StoreRoot, input: Readable, where: string, opts: IoOptions = {}): Promise<LoadedImage[]> {
  const lease = root.lease();
  const added = new Set<Digest>();
  let ok = false;
  try {
    const c = await readArchive(root, input, where, lease, added, opts);
    const index = parseJson<Index>(c, 'index.json', where);
    const dockerNames = new Map<Digest, string[]>();
    const dm = parseJson<Array<{ Config?: string; RepoTags?: string[] | null }>>(c, 'manifest.json', where);
    for (const e of Array.isArray(dm) ? dm : []) {
      const cfg = typeof e.Config === 'string' ? blobOf(c, e.Config) : undefined;
      if (cfg)
        dockerNames.set(
          cfg.digest,
          (e.RepoTags ?? []).map((t) => normalizeReference(t)),
        );
    }
    let plan: Array<{ refs: string[]; target: Descriptor; id: Digest }> = [];
    if (index && Array.isArray(index.manifests) && index.manifests.length > 0) {
      for (const [i, raw] of index.manifests.entries()) {
        const d = checkDescriptor(raw, `${where}: index.json manifest ${i}`);
        await checkComplete(root, d, where);
        const rec = await root.images.load(d);
        const ref = refOfEntry(d);
        const refs = ref ? [ref] : (dockerNames.get(rec.id) ?? []);
        plan.push({ refs, target: { mediaType: d.mediaType, digest: d.digest, size: d.size, ...(d.platform ? { platform: d.platform } : {}) }, id: rec.id });
      }
    } else if (dm !== undefined) {
      plan = await loadDockerManifest(root, c, where, lease, opts);
    } else {
      throw bad(where, 'not an image archive: neither index.json nor manifest.json found');
    }
    const loaded: LoadedImage[] = [];
    for (const p of plan) {
      if (p.refs.length === 0) {
        await root.withStoreLock(() =>
          root.images.rewriteIndexLocked((idx) => {
            if (!idx.manifests.some((x) => x.digest === p.target.digest)) idx.manifests.push(p.target);
          }),
        );
        loaded.push({ id: p.id, manifestDigest: p.target.digest });
      }
      for (const r of p.refs) {
        await root.images.tag(r, p.target);
        loaded.push({ ref: r, id: p.id, manifestDigest: p.target.digest });
      }
    }
    ok = true;
    return loaded;
  } finally {
    await lease.release();
    // Blobs this load added that no image needs (VERSION files, a failed load's layers) go again.
    if (added.size > 0)
      await collectGarbage(root, { candidates: added }).catch((err) => {
        if (ok) throw err;
      });
  }
}
