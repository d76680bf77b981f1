/**
 * FROM images: the local store first, else (or with `--pull`) the registry. One resolution per reference per
 * build, shared by every stage and `--from` that names it.
 */
import type { ImageRecord } from '../cache/image-store.js';
import { KilnError } from '../errors.js';
import { formatPlatform, parsePlatform, platformMatches } from '../image/platform.js';
import type { Platform } from '../image/types.js';
import type { BuildContext } from './build-context.js';

function configPlatform(img: ImageRecord): Platform {
  const c = img.config;
  return { os: c.os, architecture: c.architecture, ...(c.variant ? { variant: c.variant } : {}) };
}

const resolved = new WeakMap<BuildContext, Map<string, Promise<ImageRecord>>>();

async function resolveOnce(ctx: BuildContext, ref: string, platform: string): Promise<ImageRecord> {
  const want = parsePlatform(platform);
  let local = ctx.opts.pull ? undefined : await ctx.deps.images.find(ref, { platform: want, signal: ctx.signal });
  // A plain (single-platform) image of another platform is no base for this one: pulled for it, or refused.
  if (local && !local.indexDigest && local.config.architecture && local.config.os && !platformMatches(configPlatform(local), want)) {
    if (!ctx.deps.registry) {
      throw new KilnError('PLATFORM_NOT_FOUND', `image ${ref} is ${formatPlatform(configPlatform(local))} only; the build needs ${platform}`, {
        hint: `make or pull it for ${platform} (kiln pull --platform ${platform} ${ref}; kiln base busybox --platform …)`,
      });
    }
    local = undefined;
  }
  if (local) return local;
  if (!ctx.deps.registry) {
    throw new KilnError('IMAGE_NOT_FOUND', `image ${ref} is not in the local store`, { hint: `pull it first (kiln pull ${ref}) or import it` });
  }
  ctx.emit({ type: 'pull', ref, status: 'resolving' });
  const img = await ctx.deps.registry.pull(ref, {
    platform,
    signal: ctx.signal,
    onStatus: (status, layer) => ctx.emit({ type: 'pull', ref, status, ...(layer && { layer }) }),
  });
  ctx.emit({ type: 'pull', ref, status: 'done' });
  return img;
}

/** The image `ref` names, for the build's target platform (or `platform`). Throws IMAGE_NOT_FOUND. */
export function resolveImage(ctx: BuildContext, ref: string, platform = ctx.platform): Promise<ImageRecord> {
  let m = resolved.get(ctx);
  if (!m) resolved.set(ctx, (m = new Map()));
  const k = `${platform} ${ref}`;
  let p = m.get(k);
  if (!p) {
    p = resolveOnce(ctx, ref, platform);
    m.set(k, p);
  }
  return p;
}
