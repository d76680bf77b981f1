/**
 * `kiln run --pull=missing|always|never`: makes sure the image is in the store before a container is created, as
 * `docker run` does: a missing image is pulled with the registry library (credentials and insecure registries
 * from the config files, loopback registries over plain HTTP), printing Docker's
 * `Unable to find image 'busybox:latest' locally` and the pull progress on stderr, so stdout stays the
 * container's.
 */
import type { Writable } from 'node:stream';
import type { StoreRoot } from '../cache/root.js';
import { KilnError, isKilnError } from '../errors.js';
import { familiarize, normalizeReference } from '../image/reference.js';

export type PullPolicy = 'missing' | 'always' | 'never';

/** Checks a `--pull` value; INVALID_ARGUMENT with Docker's wording otherwise. */
export function parsePullPolicy(v: string | undefined): PullPolicy {
  if (v === undefined || v === '' || v === 'missing') return 'missing';
  if (v === 'always' || v === 'never') return v;
  throw new KilnError('INVALID_ARGUMENT', `invalid pull option: '${v}': must be one of "always", "missing" or "never"`);
}

export interface EnsureImageOptions {
  policy: PullPolicy;
  /** Where Docker's messages and the pull progress go (stderr for `kiln run`). */
  out: Writable;
  signal?: AbortSignal;
  /** `--platform`: the manifest of a multi-platform image wanted (default this host's). */
  platform?: string;
}

/** True when `ref` names an image by ID (or ID prefix) rather than by reference: those are never pulled. */
function isImageId(ref: string): boolean {
  return /^(sha256:)?[a-f0-9]{12,64}$/.test(ref);
}

/**
 * Pulls `ref` into `store` when the policy asks for it. Throws IMAGE_NOT_FOUND (with `never` and no local image,
 * or an ID that is not here), and the registry's errors (REGISTRY_*, naming registry and repository) of a pull.
 */
export async function ensureImage(store: StoreRoot, ref: string, o: EnsureImageOptions): Promise<void> {
  let present = true;
  if (o.policy !== 'always' || isImageId(ref)) {
    const platform = o.platform ? (await import('../image/platform.js')).parsePlatform(o.platform) : undefined;
    present = await store.images.resolve(ref, { signal: o.signal, ...(platform ? { platform } : {}) }).then(
      () => true,
      (err) => {
        if (isKilnError(err) && err.code === 'IMAGE_NOT_FOUND') return false;
        throw err;
      },
    );
    if (present) return;
    if (o.policy === 'never' || isImageId(ref)) {
      throw new KilnError('IMAGE_NOT_FOUND', `No such image: ${ref}`, { hint: `pull it (kiln pull ${ref}) or run with --pull=missing` });
    }
  }
  const full = normalizeReference(ref);
  if (!present) o.out.write(`Unable to find image '${familiarize(full)}' locally\n`);
  const [{ pullImage, toRegistryRef }, { createTransferRenderer }, { withConfigDefaults }] = await Promise.all([
    import('../registry/pull.js'),
    import('./progress/transfer.js'),
    import('../registry/client-options.js'),
  ]);
  const rref = toRegistryRef(ref);
  const tty = Boolean((o.out as NodeJS.WriteStream).isTTY);
  const render = createTransferRenderer('pull', o.out, tty);
  o.out.write(`${rref.digest ?? rref.tag}: Pulling from ${rref.repository}\n`);
  try {
    const res = await pullImage(store, ref, {
      ...(await withConfigDefaults({})),
      signal: o.signal,
      ...(o.platform ? { platform: o.platform } : {}),
      onProgress: (ev) => render.onEvent(ev),
    });
    render.close();
    o.out.write(`Digest: ${res.digest}\n`);
    o.out.write(res.fetched > 0 ? `Status: Downloaded newer image for ${familiarize(res.ref)}\n` : `Status: Image is up to date for ${familiarize(res.ref)}\n`);
  } finally {
    render.close();
  }
}
