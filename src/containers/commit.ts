/**
 * `docker commit` (`POST /commit`, `kiln commit`): a new image made of the container's image plus one layer holding
 * the container's writable upper dir (overlay whiteouts and opaque directories become OCI ones, as a build step's
 * layer does), with the container's run configuration (command, environment, user, working directory, labels)
 * and the `--change` instructions on top, and a history entry. A running container is frozen while its upper dir
 * is packed (`pause`, the default, as dockerd), so the layer is one consistent state.
 */
import type { StoreRoot } from '../cache/root.js';
import { KilnError } from '../errors.js';
import { emitEvent } from '../events/events.js';
import { writeLayer } from '../exporter/layer-writer.js';
import { applyChange } from '../image/change.js';
import { parseReference, formatReference } from '../image/reference.js';
import { MediaType, type ContainerConfig, type ImageConfig } from '../image/types.js';
import { layerTar } from '../layers/layer-diff.js';
import { rootfsLayers, withFrozen } from './container-root.js';
import type { ContainerRecord } from './containers.js';

export interface CommitOptions {
  /** `REPO[:TAG]` to tag the new image with (none: an untagged image). */
  ref?: string;
  /** Dockerfile instructions (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR). */
  changes?: string[];
  /** History comment and image author. */
  comment?: string;
  author?: string;
  /** Freeze a running container while its layer is packed (default true). */
  pause?: boolean;
  signal?: AbortSignal;
}

/** `repo` and `tag` as the API passes them → one reference (`latest` when no tag), or undefined. */
export function commitReference(repo: string | undefined, tag: string | undefined): string | undefined {
  if (!repo) {
    if (tag) throw new KilnError('INVALID_ARGUMENT', 'a tag needs a repository name');
    return undefined;
  }
  return formatReference(parseReference(tag ? `${repo}:${tag}` : repo));
}

/**
 * The container's own configuration as its image config: the image's, with the command, environment, working
 * directory, user and labels the container ran with (dockerd commits `container.Config`). kiln keeps the resolved
 * argv only, so the image's ENTRYPOINT stays when the argv still starts with it; otherwise the first word is.
 */
export function containerConfig(rec: ContainerRecord, image: ContainerConfig | undefined): ContainerConfig {
  const cfg: ContainerConfig = structuredClone(image ?? {});
  const args = rec.spec.process.args;
  const ep = image?.Entrypoint ?? [];
  if (ep.length > 0 && ep.every((a, i) => args[i] === a)) cfg.Cmd = args.slice(ep.length);
  else if (ep.length > 0) {
    cfg.Entrypoint = args.slice(0, 1);
    cfg.Cmd = args.slice(1);
  } else cfg.Cmd = [...args];
  cfg.Env = [...rec.spec.process.env];
  if (rec.spec.process.cwd) cfg.WorkingDir = rec.spec.process.cwd;
  if (rec.spec.process.user) cfg.User = rec.spec.process.user;
  if (rec.labels && Object.keys(rec.labels).length) cfg.Labels = { ...rec.labels };
  return cfg;
}

/** Commits container `rec`; returns the new image ID (`sha256:…`). Throws IMAGE_NOT_FOUND when its image is gone. */
export async function commitContainer(store: StoreRoot, rec: ContainerRecord, o: CommitOptions = {}): Promise<{ id: string }> {
  // Everything a user typed is checked before any work.
  const config = containerConfig(rec, undefined);
  for (const c of o.changes ?? []) applyChange(structuredClone(config), c);
  if (o.ref) parseReference(o.ref);
  const image = await store.images.resolve(rec.imageId, { signal: o.signal });
  const { upper } = rootfsLayers(rec.spec.rootfs);
  const format = image.mediaType === MediaType.DockerManifest ? 'docker' : 'oci';
  const lease = store.lease();
  try {
    const pack = () => writeLayer(store.content, layerTar(upper, { mode: 'overlay', signal: o.signal }), { format, lease, signal: o.signal });
    // pause=false packs a running container as it changes (dockerd's --pause=false does the same): the layer may
    // catch a half-written file.
    const layer = o.pause === false ? await pack() : await withFrozen(store.root, rec, pack);
    const now = new Date().toISOString();
    const runConfig = containerConfig(rec, image.config.config);
    for (const c of o.changes ?? []) applyChange(runConfig, c);
    const cfg: ImageConfig = {
      ...image.config,
      created: now,
      ...(o.author ? { author: o.author } : {}),
      config: runConfig,
      rootfs: { type: 'layers', diff_ids: [...(image.config.rootfs?.diff_ids ?? []), layer.diffId] },
      history: [
        ...(image.config.history ?? []),
        { created: now, created_by: rec.spec.process.args.join(' '), ...(o.author ? { author: o.author } : {}), ...(o.comment ? { comment: o.comment } : {}) },
      ],
    };
    const written = await store.images.writeImage({
      config: cfg,
      layers: [...image.manifest.layers, layer.descriptor],
      format,
      tags: o.ref ? [o.ref] : [],
      lease,
      signal: o.signal,
    });
    emitEvent(store.root, 'container', 'commit', rec.id, {
      ...(rec.labels ?? {}),
      name: rec.name,
      image: rec.image,
      comment: o.comment ?? '',
      imageID: written.configDigest,
      imageRef: o.ref ?? '',
    });
    return { id: written.configDigest };
  } finally {
    await lease.release();
  }
}
