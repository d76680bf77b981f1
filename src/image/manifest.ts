/**
 * Building and checking manifests and configs: media-type conversion between the OCI and Docker schema2
 * vocabularies, and structural validation of JSON read from an archive or a registry (so a malformed file fails
 * with a message naming it instead of a TypeError later).
 */
import { KilnError } from '../errors.js';
import { isDigest } from './digest.js';
import { MediaType, type Descriptor, type ImageConfig, type Manifest } from './types.js';

export type ImageFormat = 'oci' | 'docker';

const TO_DOCKER: Record<string, string> = {
  [MediaType.OciLayer]: MediaType.DockerLayer,
  [MediaType.OciLayerGzip]: MediaType.DockerLayerGzip,
  [MediaType.OciConfig]: MediaType.DockerConfig,
  [MediaType.OciManifest]: MediaType.DockerManifest,
  [MediaType.OciIndex]: MediaType.DockerManifestList,
};
const TO_OCI: Record<string, string> = Object.fromEntries(Object.entries(TO_DOCKER).map(([a, b]) => [b, a]));

/** The equivalent media type in `format`'s vocabulary (zstd layers have no Docker name and stay OCI). */
function convertMediaType(mt: string, format: ImageFormat): string {
  return (format === 'docker' ? TO_DOCKER[mt] : TO_OCI[mt]) ?? mt;
}

/** Builds a schema-2 manifest for `config` and `layers` in `format`. */
export function buildManifest(config: Descriptor, layers: Descriptor[], format: ImageFormat, annotations?: Record<string, string>): Manifest {
  const m: Manifest = {
    schemaVersion: 2,
    mediaType: format === 'docker' ? MediaType.DockerManifest : MediaType.OciManifest,
    config: { ...config, mediaType: convertMediaType(config.mediaType, format) },
    layers: layers.map((l) => ({ ...l, mediaType: convertMediaType(l.mediaType, format) })),
  };
  if (annotations && Object.keys(annotations).length > 0 && format === 'oci') m.annotations = annotations;
  return m;
}

function bad(what: string, why: string): KilnError {
  return new KilnError('ARCHIVE_INVALID', `${what}: ${why}`);
}

/** Checks a descriptor's shape; throws ARCHIVE_INVALID naming `what`. */
export function checkDescriptor(d: unknown, what: string): Descriptor {
  const x = d as Descriptor;
  if (!x || typeof x !== 'object') throw bad(what, 'descriptor is not an object');
  if (typeof x.mediaType !== 'string') throw bad(what, 'descriptor has no mediaType');
  if (!isDigest(x.digest)) throw bad(what, `descriptor digest "${String(x.digest)}" is not a sha256 digest`);
  if (!Number.isSafeInteger(x.size) || x.size < 0) throw bad(what, 'descriptor size is not a non-negative integer');
  return x;
}

/** Checks a manifest's shape (schema 2, config and layer descriptors); throws ARCHIVE_INVALID naming `what`. */
export function checkManifest(m: unknown, what: string): Manifest {
  const x = m as Manifest;
  if (!x || typeof x !== 'object' || x.schemaVersion !== 2) throw bad(what, 'not a schema-2 image manifest');
  checkDescriptor(x.config, `${what} config`);
  if (!Array.isArray(x.layers)) throw bad(what, 'manifest has no layers array');
  x.layers.forEach((l, i) => checkDescriptor(l, `${what} layer ${i}`));
  return x;
}

/** Checks an image config's shape (rootfs.diff_ids of sha256 digests); throws ARCHIVE_INVALID naming `what`. */
export function checkConfig(c: unknown, what: string): ImageConfig {
  const x = c as ImageConfig;
  if (!x || typeof x !== 'object') throw bad(what, 'config is not an object');
  if (!x.rootfs || !Array.isArray(x.rootfs.diff_ids)) throw bad(what, 'config has no rootfs.diff_ids');
  for (const d of x.rootfs.diff_ids) if (!isDigest(d)) throw bad(what, `diff_id "${String(d)}" is not a sha256 digest`);
  return x;
}
