/**
 * A cache in an OCI image layout directory, BuildKit's `type=local` (what CI cache actions save and restore):
 * `oci-layout`, `index.json` naming the cache manifest by tag (`org.opencontainers.image.ref.name`), and
 * `blobs/sha256/…`. Files inside the directory are reached without following symlinks; every blob read is checked
 * against its digest (by the content store, or here for small ones).
 *
 * An export adds the missing blobs (each written beside its name and renamed), then replaces `index.json`
 * atomically (the switch from the old cache to the new one), then removes blobs no manifest of the new
 * `index.json` names. A reader sees the old cache or the new one, never half of one.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { writeFileAtomic } from '../cache/atomic-file.js';
import { KilnError, fromSystemError } from '../errors.js';
import { canonicalJson } from '../image/canonical-json.js';
import { selectManifest } from '../image/platform.js';
import { MediaType, type Descriptor, type Digest, type ImageConfig, type Index, type Manifest, type Platform } from '../image/types.js';
import { lstatBeneath, readBeneath } from '../native/fsx.js';
import { ANNOTATION_UNCOMPRESSED, CACHE_CONFIG_MEDIA_TYPE, INLINE_CACHE_KEY, MAX_CACHE_CONFIG_BYTES, parseCacheConfig } from './cache-config.js';
import { parseJson, type CachePayload, type LoadedCache } from './cache-store.js';

const REF_NAME = 'org.opencontainers.image.ref.name';
const DIGEST_RE = /^sha256:([a-f0-9]{64})$/;

function blobRel(digest: Digest): string {
  const m = DIGEST_RE.exec(digest);
  if (!m) throw new KilnError('CACHE_INVALID', `invalid digest ${JSON.stringify(digest.slice(0, 80))}`);
  return `blobs/sha256/${m[1]}`;
}

function readSmall(dir: string, rel: string, limit: number, what: string): Buffer | undefined {
  try {
    return readBeneath(dir, rel, limit) ?? undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EFBIG') throw new KilnError('CACHE_TOO_LARGE', `${what} is over ${limit} bytes; refused`);
    if (code === 'ELOOP') throw new KilnError('UNSAFE_PATH', `${what}: a symlink on the way; refused`);
    if (code === 'ENOENT') return undefined;
    throw fromSystemError(err, what) ?? err;
  }
}

function readBlob(dir: string, desc: Descriptor, limit: number, what: string): Buffer {
  const body = readSmall(dir, blobRel(desc.digest), limit, what);
  if (!body) throw new KilnError('CACHE_INVALID', `${what}: blob ${desc.digest} is missing`);
  const got = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  if (got !== desc.digest) throw new KilnError('DIGEST_MISMATCH', `${what}: blob ${desc.digest} holds ${got}; refused`);
  return body;
}

/** Opens a blob for streaming: reached no-follow (lstatBeneath), opened O_NOFOLLOW, and checked to be that inode. */
async function openBlob(dir: string, digest: Digest, offset: number): Promise<Readable> {
  const rel = blobRel(digest);
  const st = lstatBeneath(dir, rel);
  if (!st || (st.mode & 0o170000) !== 0o100000) throw new KilnError('CACHE_INVALID', `${dir}: blob ${digest} is missing or not a regular file`);
  const fh = await open(join(dir, rel), constants.O_RDONLY | constants.O_NOFOLLOW);
  const f = await fh.stat({ bigint: true });
  if (f.ino !== st.ino || f.dev !== st.dev) {
    await fh.close();
    throw new KilnError('UNSAFE_PATH', `${dir}: blob ${digest} changed while it was opened; refused`);
  }
  return fh.createReadStream({ start: offset, highWaterMark: 1 << 20 });
}

/** Loads the cache tagged `tag` in `dir`; undefined when the directory holds no cache (yet). */
export async function loadLocalCache(dir: string, tag: string, platform: Platform): Promise<LoadedCache | undefined> {
  const w = `cache ${dir}`;
  const st = await lstat(dir).catch(() => undefined);
  if (!st) return undefined;
  if (!st.isDirectory()) throw new KilnError('INVALID_ARGUMENT', `${w}: not a directory`);
  const indexBody = readSmall(dir, 'index.json', MAX_CACHE_CONFIG_BYTES, `${w}: index.json`);
  if (!indexBody) return undefined;
  const index = parseJson(indexBody, `${w}: index.json`) as Partial<Index>;
  if (!Array.isArray(index.manifests)) throw new KilnError('CACHE_INVALID', `${w}: index.json has no manifests`);
  const named = index.manifests.filter((d) => d.annotations?.[REF_NAME] === tag);
  const top = named[0] ?? (index.manifests.length === 1 ? index.manifests[0] : undefined);
  if (!top) throw new KilnError('CACHE_INVALID', `${w}: index.json names no cache tagged ${JSON.stringify(tag)}`);
  let doc = parseJson(readBlob(dir, top, MAX_CACHE_CONFIG_BYTES, w), `${w}: manifest`) as Partial<Manifest & Index>;
  const loaded = (configBody: Buffer, blobs: Descriptor[]): LoadedCache => ({
    name: `${dir} (local)`,
    parsed: parseCacheConfig(parseJson(configBody, `${w}: cache config`), blobs, w),
    open: (desc, offset) => openBlob(dir, desc.digest, offset),
    requests: 0,
  });
  if (Array.isArray(doc.manifests)) {
    const configDesc = doc.manifests.find((d) => d.mediaType === CACHE_CONFIG_MEDIA_TYPE);
    if (configDesc)
      return loaded(
        readBlob(dir, configDesc, MAX_CACHE_CONFIG_BYTES, w),
        doc.manifests.filter((d) => d !== configDesc),
      );
    const child = selectManifest(doc.manifests, platform);
    if (!child) throw new KilnError('CACHE_INVALID', `${w}: an image index without a manifest for ${platform.os}/${platform.architecture}`);
    doc = parseJson(readBlob(dir, child, MAX_CACHE_CONFIG_BYTES, w), `${w}: manifest`) as Partial<Manifest>;
  }
  if (!doc.config || !Array.isArray(doc.layers)) throw new KilnError('CACHE_INVALID', `${w}: neither a cache manifest nor an image`);
  if (doc.config.mediaType === CACHE_CONFIG_MEDIA_TYPE) return loaded(readBlob(dir, doc.config, MAX_CACHE_CONFIG_BYTES, w), doc.layers);
  const config = parseJson(readBlob(dir, doc.config, 8 * 1024 * 1024, w), `${w}: image config`) as ImageConfig & Record<string, unknown>;
  const inline = config[INLINE_CACHE_KEY];
  if (typeof inline !== 'string')
    throw new KilnError('CACHE_INVALID', `${w}: an image without inline cache`, { hint: 'export a cache there with --cache-to type=local,dest=…' });
  const diffIds = config.rootfs?.diff_ids ?? [];
  const blobs = doc.layers.map((d, i) => ({ ...d, annotations: { ...d.annotations, ...(diffIds[i] ? { [ANNOTATION_UNCOMPRESSED]: diffIds[i]! } : {}) } }));
  return loaded(Buffer.from(inline, 'base64'), blobs);
}

/** A directory of the layout that must be a real directory (never a symlink): created when missing. */
async function ensureDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true });
  const st = await lstat(path);
  if (!st.isDirectory()) throw new KilnError('UNSAFE_PATH', `cache directory ${path} is not a directory (a symlink?); refused`);
}

/** Writes one blob if missing: streamed into a temp file beside it, digest-checked, renamed into place. */
async function putBlob(dir: string, desc: Descriptor, src: () => Promise<Readable>): Promise<boolean> {
  const rel = blobRel(desc.digest);
  const have = lstatBeneath(dir, rel);
  if (have && (have.mode & 0o170000) === 0o100000 && have.size === desc.size) return false;
  const final = join(dir, rel);
  const tmp = `${final}.${randomBytes(6).toString('hex')}.tmp`;
  const hash = createHash('sha256');
  let size = 0;
  try {
    const input = await src();
    input.on('data', (c: Buffer) => {
      hash.update(c);
      size += c.length;
    });
    await pipeline(input, createWriteStream(tmp, { flags: 'wx', mode: 0o644 }));
    const got = `sha256:${hash.digest('hex')}`;
    if (got !== desc.digest || size !== desc.size)
      throw new KilnError('DIGEST_MISMATCH', `cache blob ${desc.digest}: the source gave ${got} (${size} bytes); refused`);
    await rename(tmp, final);
    return true;
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Blobs the manifests of `index` name (manifests, configs, layers), read from `dir`. */
function referenced(dir: string, index: Index): Set<string> {
  const keep = new Set<string>();
  const walk = (desc: Descriptor, depth: number) => {
    keep.add(desc.digest);
    if (depth > 2 || (desc.mediaType !== MediaType.OciManifest && desc.mediaType !== MediaType.OciIndex)) return;
    let doc: Partial<Manifest & Index>;
    try {
      doc = JSON.parse(readBlob(dir, desc, MAX_CACHE_CONFIG_BYTES, dir).toString('utf8'));
    } catch {
      return;
    }
    if (doc.config) keep.add(doc.config.digest);
    for (const l of doc.layers ?? []) keep.add(l.digest);
    for (const m of doc.manifests ?? []) walk(m, depth + 1);
  };
  for (const m of index.manifests) walk(m, 0);
  return keep;
}

/** Exports `payload` to `dir` under `tag`; returns the manifest digest. */
export async function writeLocalCache(dir: string, tag: string, payload: CachePayload, signal?: AbortSignal): Promise<Digest> {
  await ensureDir(dir);
  await ensureDir(join(dir, 'blobs'));
  await ensureDir(join(dir, 'blobs', 'sha256'));
  const layout = readSmall(dir, 'oci-layout', 4096, `${dir}/oci-layout`);
  if (!layout) await writeFileAtomic(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const configDesc: Descriptor = {
    mediaType: CACHE_CONFIG_MEDIA_TYPE,
    digest: `sha256:${createHash('sha256').update(payload.config).digest('hex')}`,
    size: payload.config.length,
  };
  let done = 0;
  for (const l of payload.layers) {
    signal?.throwIfAborted();
    await putBlob(dir, l, () => payload.open(l, signal));
    payload.onProgress?.(`cache ${dir}: ${++done}/${payload.layers.length + 1} blobs`);
  }
  const { Readable } = await import('node:stream');
  await putBlob(dir, configDesc, async () => Readable.from([payload.config]));
  const manifest: Manifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config: configDesc, layers: payload.layers };
  const body = Buffer.from(canonicalJson(manifest));
  const mdesc: Descriptor = { mediaType: MediaType.OciManifest, digest: `sha256:${createHash('sha256').update(body).digest('hex')}`, size: body.length };
  await putBlob(dir, mdesc, async () => Readable.from([body]));
  // Other tags' caches stay; this tag moves to the new manifest in one rename.
  const oldBody = readSmall(dir, 'index.json', MAX_CACHE_CONFIG_BYTES, `${dir}/index.json`);
  const old = oldBody ? (parseJson(oldBody, `${dir}/index.json`) as Partial<Index>) : undefined;
  const others = (Array.isArray(old?.manifests) ? old.manifests : []).filter(
    (d) => d.annotations?.[REF_NAME] !== tag && d.annotations?.[REF_NAME] !== undefined,
  );
  const index: Index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [...others, { ...mdesc, annotations: { [REF_NAME]: tag } }] };
  await writeFileAtomic(join(dir, 'index.json'), canonicalJson(index));
  // Old blobs go only after the switch: a reader of the previous index.json had them until now.
  const keep = referenced(dir, index);
  for (const name of await readdir(join(dir, 'blobs', 'sha256'))) {
    if (keep.has(`sha256:${name}`)) continue;
    const st = await lstat(join(dir, 'blobs', 'sha256', name)).catch(() => undefined);
    // Another export's blob in flight is left alone until it is an hour old (then it is a killed export's).
    if (name.endsWith('.tmp') && st && Date.now() - st.mtimeMs < 3_600_000) continue;
    if (st?.isFile() || st?.isSymbolicLink()) await rm(join(dir, 'blobs', 'sha256', name), { force: true });
  }
  return mdesc.digest;
}
