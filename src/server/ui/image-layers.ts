/**
 * What each layer of a built image adds and removes, as `dive` shows it: read from the local content store, one
 * layer blob at a time, decompressed as a stream (never buffered whole). Whiteouts (`.wh.name`) are the files a
 * layer removes, an opaque marker (`.wh..wh..opq`) a directory it empties. Paths per layer are capped (the rest
 * only counted) so a 100,000-file base layer does not make a 10 MiB answer; results are cached by layer digest
 * (blobs are immutable) in a small in-memory map.
 */
import { posix } from 'node:path';
import type { ContentStore } from '../../cache/types.js';
import { KilnError } from '../../errors.js';
import type { Descriptor, ImageConfig, Index, Manifest } from '../../image/types.js';
import { MediaType } from '../../image/types.js';
import { createDecompressStream } from '../../layers/compression.js';
import { readTar } from '../../tar/reader.js';

/** One path a layer adds or changes (`size` in bytes, 0 for all but regular files). */
export interface LayerFile {
  path: string;
  type: string;
  size: number;
}

/** One layer of the image, bottom first. */
export interface LayerSummary {
  digest: string;
  /** Bytes of the blob as stored (compressed). */
  compressedSize: number;
  /** Bytes of the regular files it adds. */
  size: number;
  /** The config history's `created_by` for this layer, when the history lines up with the layers. */
  createdBy?: string;
  added: LayerFile[];
  removed: string[];
  /** Entries counted but left out of `added` / `removed` past the cap. */
  addedTotal: number;
  removedTotal: number;
  truncated: boolean;
}

export interface ImageLayers {
  manifestDigest: string;
  platform?: string;
  layers: LayerSummary[];
  /** Bytes of files across layers (what `dive` calls the image size). */
  totalSize: number;
}

const INDEX_TYPES: ReadonlySet<string> = new Set([MediaType.OciIndex, MediaType.DockerManifestList]);

type Scan = Omit<LayerSummary, 'createdBy' | 'compressedSize' | 'digest'>;
const scans = new Map<string, Scan>();
const MAX_SCANS = 256;

/** Lists one layer's entries; ARCHIVE_INVALID for a broken blob, BLOB_NOT_FOUND when the store lost it. */
async function scanLayer(content: ContentStore, d: Descriptor, cap: number, signal?: AbortSignal): Promise<Scan> {
  const key = `${d.digest}:${cap}`;
  const hit = scans.get(key);
  if (hit) return hit;
  const input = await content.read(d.digest, { signal });
  const plain = input.pipe(createDecompressStream('auto'));
  input.once('error', (err) => plain.destroy(err));
  const scan: Scan = { size: 0, added: [], removed: [], addedTotal: 0, removedTotal: 0, truncated: false };
  try {
    for await (const { entry, body } of readTar(plain, { signal, source: `layer ${d.digest}` })) {
      for await (const _ of body) {
        /* names and sizes only */
      }
      const name = entry.name.replace(/^\.?\/+/, '').replace(/\/+$/, '');
      if (!name) continue;
      const base = posix.basename(name);
      if (base.startsWith('.wh.')) {
        const dir = posix.dirname(name);
        const removed = base === '.wh..wh..opq' ? `${dir === '.' ? '' : dir}/*` : posix.join(dir, base.slice(4));
        scan.removedTotal++;
        if (scan.removed.length < cap) scan.removed.push(`/${removed.replace(/^\/+/, '')}`);
        continue;
      }
      scan.size += entry.size;
      scan.addedTotal++;
      if (scan.added.length < cap) scan.added.push({ path: `/${name}`, type: entry.type, size: entry.size });
    }
  } finally {
    input.destroy();
  }
  scan.truncated = scan.addedTotal > scan.added.length || scan.removedTotal > scan.removed.length;
  if (scans.size >= MAX_SCANS) scans.delete(scans.keys().next().value!);
  scans.set(key, scan);
  return scan;
}

/**
 * The layers of the image whose manifest (or index, then the platform `platform`, or its first) is `digest`.
 * BLOB_NOT_FOUND when the image is no longer in the store (pruned); INVALID_ARGUMENT for a bad cap.
 */
export async function describeLayers(
  content: ContentStore,
  digest: string,
  opts: { platform?: string; maxFiles?: number; signal?: AbortSignal } = {},
): Promise<ImageLayers> {
  const cap = opts.maxFiles ?? 500;
  if (!Number.isInteger(cap) || cap < 0 || cap > 100_000) throw new KilnError('INVALID_ARGUMENT', `files=${cap}: expected 0 to 100000`);
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new KilnError('INVALID_ARGUMENT', `${JSON.stringify(digest)} is not a sha256 digest`);
  let manifestDigest = digest;
  let platform: string | undefined;
  let doc = await content.readJson<Manifest | Index>(digest, { signal: opts.signal });
  if ('manifests' in doc || INDEX_TYPES.has(doc.mediaType ?? '')) {
    const idx = doc as Index;
    const plat = (m: Descriptor) => (m.platform ? `${m.platform.os}/${m.platform.architecture}${m.platform.variant ? `/${m.platform.variant}` : ''}` : '');
    const images = idx.manifests.filter((m) => m.platform && m.platform.architecture !== 'unknown');
    const pick = opts.platform ? images.find((m) => plat(m) === opts.platform) : images[0];
    if (!pick) throw new KilnError('PLATFORM_NOT_FOUND', `image ${digest} has no manifest for ${opts.platform ?? 'any platform'}`);
    manifestDigest = pick.digest;
    platform = plat(pick);
    doc = await content.readJson<Manifest>(pick.digest, { signal: opts.signal });
  }
  const manifest = doc as Manifest;
  const config = await content.readJson<ImageConfig>(manifest.config.digest, { signal: opts.signal }).catch(() => undefined);
  const history = (config?.history ?? []).filter((h) => !h.empty_layer);
  const aligned = history.length === manifest.layers.length;
  const layers: LayerSummary[] = [];
  for (const [i, d] of manifest.layers.entries()) {
    const scan = await scanLayer(content, d, cap, opts.signal);
    layers.push({ digest: d.digest, compressedSize: d.size, ...(aligned && history[i].created_by ? { createdBy: history[i].created_by } : {}), ...scan });
  }
  return { manifestDigest, ...(platform ? { platform } : {}), layers, totalSize: layers.reduce((n, l) => n + l.size, 0) };
}
