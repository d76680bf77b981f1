/**
 * Docker's JSON for an image record: the `GET /images/json` row and the `GET /images/{name}/json` document, key
 * for key as dockerd 20.10 answers (test/fixtures/dockerd-20.10/). Config and ContainerConfig carry every key of
 * Docker's container.Config with its zero value ("" / null / false) where the image sets nothing; `Size` is the
 * uncompressed size (image-sizes.ts), whatever the image's origin; VirtualSize, gone from API 1.44 on (Docker 25),
 * is answered to older clients only (`forApiVersion`).
 */
import type { ImageRecord } from '../cache/image-store.js';
import type { ContainerConfig } from '../image/types.js';
import { familiarize } from '../image/reference.js';
import type { ImageInspect, ImageSummary } from './backend.js';

/** The first API version without VirtualSize (Docker 25). */
const NO_VIRTUAL_SIZE = [1, 44];

function createdSeconds(rec: ImageRecord): number {
  const t = rec.config.created ? Date.parse(rec.config.created) : NaN;
  return Number.isFinite(t) ? Math.floor(t / 1000) : 0;
}

/** Docker's container.Config in full: the image's settings over Docker's zero values, optional keys only when set. */
export function fullConfig(c: ContainerConfig | undefined) {
  return {
    Hostname: '',
    Domainname: '',
    User: c?.User ?? '',
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    ...(c?.ExposedPorts && Object.keys(c.ExposedPorts).length ? { ExposedPorts: c.ExposedPorts } : {}),
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: c?.Env ?? null,
    Cmd: c?.Cmd ?? null,
    ...(c?.Healthcheck ? { Healthcheck: c.Healthcheck } : {}),
    ...(c?.ArgsEscaped ? { ArgsEscaped: true } : {}),
    Image: '',
    Volumes: c?.Volumes && Object.keys(c.Volumes).length ? c.Volumes : null,
    WorkingDir: c?.WorkingDir ?? '',
    Entrypoint: c?.Entrypoint ?? null,
    OnBuild: c?.OnBuild?.length ? c.OnBuild : null,
    Labels: c?.Labels && Object.keys(c.Labels).length ? c.Labels : null,
    ...(c?.StopSignal ? { StopSignal: c.StopSignal } : {}),
    ...(c?.Shell?.length ? { Shell: c.Shell } : {}),
  };
}

/** The `GET /images/json` row; `size` is the uncompressed size, `containers` how many containers use it (-1: not counted). */
export function imageSummary(rec: ImageRecord, opts: { size: number; repoDigests?: string[]; containers?: number }): ImageSummary {
  return {
    Containers: opts.containers ?? -1,
    Created: createdSeconds(rec),
    // As Docker 25+ (containerd store): a multi-platform image is known by its index's digest.
    Id: rec.indexDigest ?? rec.id,
    Labels: rec.config.config?.Labels ?? null,
    ParentId: '',
    RepoDigests: opts.repoDigests ?? [],
    RepoTags: rec.refs.map(familiarize),
    SharedSize: -1,
    Size: opts.size,
    VirtualSize: opts.size,
  };
}

/** The `GET /images/{name}/json` document. */
export function imageInspect(rec: ImageRecord, opts: { size: number; repoDigests?: string[]; layerDirs?: string[] }): ImageInspect {
  return {
    Id: rec.indexDigest ?? rec.id,
    RepoTags: rec.refs.map(familiarize),
    RepoDigests: opts.repoDigests ?? [],
    Parent: '',
    Comment: '',
    Created: rec.config.created || new Date(0).toISOString(),
    Container: '',
    // What dockerd kept of the build container's config; kiln builds without one, so it is Docker's empty config.
    ContainerConfig: fullConfig(undefined),
    DockerVersion: '',
    Author: rec.config.author ?? '',
    Config: fullConfig(rec.config.config),
    Architecture: rec.config.architecture,
    ...(rec.config.variant ? { Variant: rec.config.variant } : {}),
    Os: rec.config.os,
    Size: opts.size,
    VirtualSize: opts.size,
    // Data is the driver's map of directories; kiln keeps layers as blobs and unpacks them per use, so an image
    // has no overlay directories of its own to name.
    GraphDriver: { Data: {}, Name: 'overlay2' },
    RootFS: { Type: 'layers', Layers: rec.config.rootfs?.diff_ids ?? [] },
    Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
  };
}

/** True when the request's API version (`/v1.NN/` prefix; none: kiln's own, the newest) still has VirtualSize. */
export function hasVirtualSize(apiVersion: string | undefined): boolean {
  if (!apiVersion) return false;
  const [major, minor] = apiVersion.split('.').map(Number);
  return major! < NO_VIRTUAL_SIZE[0]! || (major === NO_VIRTUAL_SIZE[0] && minor! < NO_VIRTUAL_SIZE[1]!);
}

/** Drops VirtualSize for clients of API 1.44 and later, as dockerd 25 does. */
export function forApiVersion<T extends { VirtualSize?: number }>(shape: T, apiVersion: string | undefined): T {
  if (hasVirtualSize(apiVersion)) return shape;
  const { VirtualSize: _dropped, ...rest } = shape;
  void _dropped;
  return rest as T;
}
