/**
 * `--output type=image,push=true,store=false` (BuildKit's `store=false`): the image goes to its registry straight
 * from the build, without entering the local image store, so its layers never have to be here. A layer that hit
 * in an imported registry cache is mounted from the cache's repository when it is on the same registry (or
 * streamed from the cache otherwise), never downloaded into the local store first; every other blob is uploaded
 * from the local store. Blobs go first (HEAD, mount, upload), the manifest last, under each tag.
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { KilnError } from '../errors.js';
import type { Descriptor } from '../image/types.js';
import { createBlobSources } from '../registry/blob-sources.js';
import { where } from '../registry/client.js';
import { skipBytes } from '../registry/copy.js';
import { pushBlob } from '../registry/push-blob.js';
import { forEachLimited } from '../registry/pool.js';
import { toRegistryRef } from '../registry/pull.js';
import type { BuildContext } from './build-context.js';

export interface BuiltImage {
  manifest: Descriptor;
  config: Descriptor;
  layers: Descriptor[];
}

/** Pushes a built image (manifest and config in the local content store) to every tag. */
export async function pushBuiltImage(ctx: BuildContext, image: BuiltImage, tags: string[]): Promise<void> {
  if (tags.length === 0) throw new KilnError('INVALID_ARGUMENT', 'an image output with push=true needs a name (-t or name=)');
  const client = await ctx.registryClient(false);
  const sources = createBlobSources(ctx.deps.root);
  const t = client.transport;
  for (const tag of tags) {
    const rref = toRegistryRef(tag);
    const pusher = client.pusher(rref);
    const blobs = [image.config, ...image.layers];
    let mounted = 0;
    await forEachLimited(
      blobs,
      client.opts.concurrency ?? 3,
      async (desc, signal) => {
        const local = await ctx.deps.content.has(desc.digest);
        const cacheRepo = ctx.remote?.registryOf(desc.digest);
        const mountFrom = [...(await sources.repositories(rref.registry, desc.digest))];
        if (cacheRepo && cacheRepo.registry === rref.registry) mountFrom.unshift(cacheRepo.repository);
        if (!local && !cacheRepo) throw new KilnError('BLOB_NOT_FOUND', `cannot push ${tag}: layer ${desc.digest} is neither here nor in an imported cache`);
        const open = async (offset: number): Promise<Readable> =>
          local
            ? createReadStream(ctx.deps.content.blobPath(desc.digest), { start: offset, highWaterMark: 1 << 20 })
            : skipBytes(await ctx.remote!.open(desc, signal), offset);
        const pushed = await pushBlob(pusher, t, desc, open, { signal, mountFrom, what: `${where(rref)}: blob ${desc.digest}` });
        if (pushed.status === 'mounted') mounted++;
      },
      ctx.signal,
    );
    const body = await ctx.deps.content.readBuffer(image.manifest.digest);
    await pusher.putManifest(image.manifest, body, rref.tag ?? 'latest', { signal: ctx.signal });
    await sources.record(rref.registry, rref.repository, [...blobs.map((b) => b.digest), image.manifest.digest]).catch(() => undefined);
    ctx.emit({ type: 'export', status: `pushed ${tag} (${image.manifest.digest}${mounted ? `; ${mounted} layers mounted from the cache` : ''})` });
  }
}
