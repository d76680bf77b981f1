/**
 * `pullImage`: a reference from a registry into the local store. The manifest (or index, then the chosen
 * platform's manifest) is fetched size-limited and digest-checked; config and layers stream in parallel into the
 * content store, each verified on commit, blobs the store has are not fetched; the manifest is written and the
 * tag set last, so a failed pull tags nothing and leaves no partial blob (verified blobs it did fetch are leased
 * while it runs and left for prune). Used by `kiln pull`, the builder's FROM and the server.
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../cache/atomic-file.js';
import type { GcRootFile } from '../cache/gc.js';
import { KilnError } from '../errors.js';
import type { StoreRoot } from '../cache/root.js';
import { checkManifest } from '../image/manifest.js';
import { formatPlatform, hostPlatform, parsePlatform, platformMatches, selectManifest } from '../image/platform.js';
import { formatReference, parseReference } from '../image/reference.js';
import { isIndexMediaType, isManifestMediaType, type Descriptor, type ImageConfig, type Index, type Platform } from '../image/types.js';
import { createBlobSources } from './blob-sources.js';
import { createRegistryClient, where, type RegistryClient } from './client.js';
import { withConfigDefaults } from './client-options.js';
import { copyBlob } from './copy.js';
import { forEachLimited } from './pool.js';
import type { ProgressFn, PullResult, RegistryClientOptions, RegistryRef } from './types.js';

export interface PullOptions extends RegistryClientOptions {
  /** Platform to choose from an index (`linux/arm64` or a Platform). Default: the host's. */
  platform?: Platform | string;
  signal?: AbortSignal;
  onProgress?: ProgressFn;
  /** Reuse a client (its tokens and connections); otherwise one is made from these options and closed after. */
  client?: RegistryClient;
  /** Of an index: every platform's image, and the tag names the index (`kiln pull --all-platforms`). */
  allPlatforms?: boolean;
}

/** Splits a parsed reference into what the distribution API needs. */
export function toRegistryRef(input: string): RegistryRef {
  const r = parseReference(input);
  const out: RegistryRef = { registry: r.domain, repository: r.path };
  if (r.tag !== undefined) out.tag = r.tag;
  if (r.digest !== undefined) out.digest = r.digest;
  return out;
}

/**
 * Pulls `ref` (`busybox`, `127.0.0.1:5000/app:1`, `name@sha256:…`) into `root` and tags it there under its
 * normalised name. Throws INVALID_REFERENCE, REGISTRY_* (naming registry and repository), MANIFEST_TOO_LARGE,
 * DIGEST_MISMATCH / SIZE_MISMATCH for bad blobs, IMAGE_NOT_FOUND when an index has no manifest for the platform.
 */
export async function pullImage(root: StoreRoot, ref: string, opts: PullOptions = {}): Promise<PullResult> {
  const full = formatReference(parseReference(ref));
  const rref = toRegistryRef(ref);
  const want = typeof opts.platform === 'string' ? parsePlatform(opts.platform) : (opts.platform ?? hostPlatform());
  const client = opts.client ?? createRegistryClient(await withConfigDefaults(opts));
  const emit = opts.onProgress ?? (() => {});
  const lease = root.lease();
  try {
    const top = await client.resolve(rref, { signal: opts.signal });
    emit({ type: 'resolved', ref: full, digest: top.descriptor.digest, mediaType: top.descriptor.mediaType });
    const toStore: Array<{ descriptor: Descriptor; body: Buffer }> = [top];
    let manifest = top;
    if (isIndexMediaType(top.descriptor.mediaType)) {
      const index = JSON.parse(top.body.toString('utf8')) as Index;
      const chosen = selectManifest(Array.isArray(index.manifests) ? index.manifests : [], want);
      if (!chosen) {
        const have = (index.manifests ?? []).map((m) => (m.platform ? formatPlatform(m.platform) : 'unknown')).join(', ');
        throw new KilnError('IMAGE_NOT_FOUND', `${where(rref)}: no manifest for platform ${formatPlatform(want)} (the index has: ${have || 'none'})`, {
          hint: 'choose one with --platform',
        });
      }
      manifest = await client.resolve({ ...rref, tag: undefined, digest: chosen.digest }, { signal: opts.signal });
      if (!isManifestMediaType(manifest.descriptor.mediaType)) {
        throw new KilnError('REGISTRY_PROTOCOL', `${where(rref)}: index entry ${chosen.digest} is not an image manifest`);
      }
      if (chosen.platform) manifest.descriptor.platform = chosen.platform;
      toStore.unshift(manifest);
    }
    const m = checkManifest(JSON.parse(manifest.body.toString('utf8')), `${where(rref)} manifest ${manifest.descriptor.digest}`);
    const blobs: Array<{ desc: Descriptor; kind: 'config' | 'layer' }> = [
      { desc: m.config, kind: 'config' },
      ...m.layers.map((desc) => ({ desc, kind: 'layer' as const })),
    ];
    // --all-platforms: the other platforms' manifests and blobs too (attestations skipped), then the index is tagged.
    if (opts.allPlatforms && isIndexMediaType(top.descriptor.mediaType)) {
      const index = JSON.parse(top.body.toString('utf8')) as Index;
      for (const d of index.manifests ?? []) {
        if (d.digest === manifest.descriptor.digest || d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest') continue;
        const other = await client.resolve({ ...rref, tag: undefined, digest: d.digest }, { signal: opts.signal });
        const om = checkManifest(JSON.parse(other.body.toString('utf8')), `${where(rref)} manifest ${d.digest}`);
        blobs.push({ desc: om.config, kind: 'config' }, ...om.layers.map((desc) => ({ desc, kind: 'layer' as const })));
        toStore.unshift(other);
      }
    }
    const fetcher = client.fetcher(rref);
    const t = client.transport;
    let fetched = 0;
    let skipped = 0;
    let bytes = 0;
    const seen = new Set<string>();
    await forEachLimited(
      blobs.filter(({ desc }) => !seen.has(desc.digest) && seen.add(desc.digest)),
      opts.concurrency ?? 3,
      async ({ desc, kind }, signal) => {
        const ev = { type: 'blob' as const, digest: desc.digest, size: desc.size, kind };
        await lease.add(desc.digest);
        if (await root.content.has(desc.digest)) {
          skipped++;
          emit({ ...ev, status: 'exists', current: desc.size });
          return;
        }
        emit({ ...ev, status: 'downloading', current: 0 });
        await copyBlob(
          desc,
          (offset, s) => fetcher.fetch(desc, { offset, signal: s }),
          () => root.content.writer({ lease, signal }),
          {
            signal,
            maxAttempts: t.maxAttempts,
            backoff: t.backoff,
            what: `${where(rref)}: blob ${desc.digest}`,
            onProgress: (current) => emit({ ...ev, status: 'downloading', current }),
            onRetry: (err) => emit({ ...ev, status: 'retrying', current: 0, message: (err as Error).message }),
          },
        );
        fetched++;
        bytes += desc.size;
        emit({ ...ev, status: 'done', current: desc.size });
      },
      opts.signal,
    );
    // A single-platform image asked for with an explicit --platform must be that platform (as Docker checks).
    if (opts.platform && !isIndexMediaType(top.descriptor.mediaType)) {
      const cfg = await root.content.readJson<ImageConfig>(m.config.digest);
      const have: Platform = { os: cfg.os, architecture: cfg.architecture, ...(cfg.variant ? { variant: cfg.variant } : {}) };
      if (!platformMatches(have, want)) {
        throw new KilnError(
          'IMAGE_NOT_FOUND',
          `${where(rref)}: the image is ${formatPlatform(have)}, which does not match the requested platform ${formatPlatform(want)}`,
        );
      }
    }
    for (const { descriptor, body } of toStore) {
      await root.content.writeBuffer(body, { digest: descriptor.digest, size: descriptor.size }, { lease });
    }
    // A digest reference names content, not a tag: Docker keeps such pulls untagged (found by digest). A GC root
    // (src/cache/gc.ts format) keeps them until `prune --all`, as the lease did during the pull.
    const parsed = parseReference(ref);
    const tagged = opts.allPlatforms && isIndexMediaType(top.descriptor.mediaType) ? top.descriptor : manifest.descriptor;
    if (parsed.tag !== undefined) await root.images.tag(formatReference({ ...parsed, digest: undefined }), tagged);
    else await keepDigestPull(root, [top.descriptor.digest, manifest.descriptor.digest]);
    await createBlobSources(root.root).record(rref.registry, rref.repository, [...seen, manifest.descriptor.digest]);
    emit({ type: 'done', ref: full, digest: top.descriptor.digest, size: top.descriptor.size });
    return { ref: full, digest: top.descriptor.digest, manifest: manifest.descriptor, fetched, skipped, bytes };
  } finally {
    await lease.release();
    if (!opts.client) client.close();
  }
}

/** Pins a digest pull's manifests with a prunable GC root file, one per repository digest (idempotent). */
async function keepDigestPull(root: StoreRoot, digests: string[]): Promise<void> {
  const file: GcRootFile = { digests: [...new Set(digests)], kind: 'digest-pull', lastUsed: new Date().toISOString(), prunable: true };
  await writeFileAtomic(join(root.paths.gcRoots, `digest-pull-${digests[0]!.replace(/^sha256:/, '')}.json`), JSON.stringify(file));
}
