/**
 * `--cache-to` / `--cache-from` as BuildKit takes them: comma-separated `key=value` pairs with a `type`, or (for
 * `--cache-from`) a bare image reference, which means `type=registry,ref=IMAGE` as with `docker build --cache-from`
 * and accepts either kind of cache (a cache manifest or an image carrying inline cache). Every key is honoured or
 * refused: an option kiln does not know is an error, never silently dropped.
 */
import { KilnError } from '../errors.js';
import { parseReference } from '../image/reference.js';

export type CacheMode = 'min' | 'max';
export type CacheCompression = 'gzip' | 'zstd' | 'none';

/**
 * Set by `kiln serve` on its own default caches: registry access uses the server's logins (its operator chose the
 * ref), not the client's. A cache a client names is always reached with the client's credentials.
 */
export interface OperatorMark {
  operator?: boolean;
}

/** Where a build imports cache from. */
export type CacheImport = ({ type: 'registry'; ref: string } | { type: 'local'; src: string; tag: string }) & OperatorMark;

/** What every export shares. */
export interface CacheExportCommon extends OperatorMark {
  /** `min`: the steps of the final image; `max`: every step of every stage that ran. */
  mode: CacheMode;
  /** Layer compression in the cache (default: the build's). */
  compression?: CacheCompression;
  /** A failed export only warns. */
  ignoreError: boolean;
  /** Export `RUN --mount=type=cache` contents (default: with mode=max). Never for `sharing=private`. */
  cacheMounts: boolean;
  /** Largest total of cache-mount contents exported, uncompressed bytes; a mount over the budget is skipped with a warning. */
  cacheMountMaxBytes: number;
}

/** Where a build exports cache to. */
export type CacheExport =
  | (CacheExportCommon & {
      type: 'registry';
      ref: string;
      /** An OCI image manifest with the cache config as its config (BuildKit's image-manifest=true); false: an index. */
      imageManifest: boolean;
    })
  | (CacheExportCommon & { type: 'local'; dest: string; tag: string })
  | (CacheExportCommon & { type: 'inline' });

/** Default budget for exported cache-mount contents. */
export const DEFAULT_CACHE_MOUNT_MAX_BYTES = 1024 * 1024 * 1024;

function pairs(spec: string, flag: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of spec.split(',')) {
    if (part.trim() === '') continue;
    const i = part.indexOf('=');
    if (i <= 0) throw new KilnError('INVALID_ARGUMENT', `${flag} ${JSON.stringify(spec)}: "${part}" is not key=value`);
    const key = part.slice(0, i).trim();
    if (out.has(key)) throw new KilnError('INVALID_ARGUMENT', `${flag} ${JSON.stringify(spec)}: ${key}= given twice`);
    out.set(key, part.slice(i + 1).trim());
  }
  return out;
}

function bool(v: string, key: string, flag: string): boolean {
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new KilnError('INVALID_ARGUMENT', `${flag}: ${key}=${v} must be true or false`);
}

/** `512m`, `1g`, `1GiB`, `100MB`, a plain byte count. */
export function parseByteSize(v: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)$/i.exec(v.trim());
  if (!m) throw new KilnError('INVALID_ARGUMENT', `${what}: ${JSON.stringify(v)} is not a size (e.g. 512m, 2g)`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.floor(Number(m[1]) * mult);
}

function checkRef(ref: string | undefined, flag: string, spec: string): string {
  if (!ref) throw new KilnError('INVALID_ARGUMENT', `${flag} ${JSON.stringify(spec)} needs ref=REGISTRY/REPOSITORY[:TAG]`);
  try {
    parseReference(ref);
  } catch (err) {
    throw new KilnError('INVALID_REFERENCE', `${flag}: ref ${JSON.stringify(ref)} is not a valid image reference`, { cause: err });
  }
  return ref;
}

function unsupportedType(type: string, flag: string): never {
  if (['gha', 's3', 'azblob'].includes(type))
    throw new KilnError('NOT_IMPLEMENTED', `${flag}: type=${type} is not supported by kiln`, {
      hint: 'use type=registry (any OCI registry) or type=local (a directory a CI cache action saves and restores)',
    });
  throw new KilnError('INVALID_ARGUMENT', `${flag}: unknown cache type ${JSON.stringify(type)}`, { hint: 'use type=registry, type=local or type=inline' });
}

function refuseUnknown(o: Map<string, string>, known: string[], flag: string, type: string): void {
  for (const k of o.keys()) {
    if (!known.includes(k)) throw new KilnError('INVALID_ARGUMENT', `${flag} type=${type}: unknown option ${k}=`, { hint: `known: ${known.join(', ')}` });
  }
}

/** Parses one `--cache-from` value. `resolvePath` makes a `src=` absolute (the CLI's cwd). */
export function parseCacheImport(spec: string, resolvePath: (p: string) => string = (p) => p): CacheImport {
  const flag = '--cache-from';
  if (!spec.includes('=')) return { type: 'registry', ref: checkRef(spec.trim(), flag, spec) };
  const o = pairs(spec, flag);
  const type = o.get('type') ?? 'registry';
  switch (type) {
    case 'registry':
      refuseUnknown(o, ['type', 'ref'], flag, type);
      return { type, ref: checkRef(o.get('ref'), flag, spec) };
    case 'local': {
      refuseUnknown(o, ['type', 'src', 'tag'], flag, type);
      const src = o.get('src');
      if (!src) throw new KilnError('INVALID_ARGUMENT', `${flag} ${JSON.stringify(spec)} needs src=DIR`);
      return { type, src: resolvePath(src), tag: o.get('tag') || 'latest' };
    }
    case 'inline':
      throw new KilnError('INVALID_ARGUMENT', `${flag}: type=inline is an export; import an image with inline cache by its reference`, {
        hint: '--cache-from REGISTRY/REPOSITORY:TAG',
      });
    default:
      return unsupportedType(type, flag);
  }
}

const COMMON = ['type', 'mode', 'compression', 'ignore-error', 'cache-mounts', 'cache-mount-max-size'];

/** Parses one `--cache-to` value. */
export function parseCacheExport(spec: string, resolvePath: (p: string) => string = (p) => p): CacheExport {
  const flag = '--cache-to';
  if (!spec.includes('=')) {
    throw new KilnError('INVALID_ARGUMENT', `${flag} ${JSON.stringify(spec)} needs a type`, {
      hint: 'type=registry,ref=REGISTRY/REPOSITORY:TAG, type=local,dest=DIR or type=inline',
    });
  }
  const o = pairs(spec, flag);
  const type = o.get('type');
  if (!type) throw new KilnError('INVALID_ARGUMENT', `${flag} ${JSON.stringify(spec)} needs type=registry|local|inline`);
  const modeRaw = o.get('mode') ?? 'min';
  if (modeRaw !== 'min' && modeRaw !== 'max') throw new KilnError('INVALID_ARGUMENT', `${flag}: mode=${modeRaw} must be min or max`);
  const comp = o.get('compression');
  if (comp !== undefined && !['gzip', 'zstd', 'none', 'uncompressed'].includes(comp))
    throw new KilnError('INVALID_ARGUMENT', `${flag}: compression=${comp} must be gzip, zstd or none`);
  const common: CacheExportCommon = {
    mode: modeRaw,
    compression: comp === undefined ? undefined : comp === 'uncompressed' ? 'none' : (comp as CacheCompression),
    ignoreError: o.has('ignore-error') ? bool(o.get('ignore-error')!, 'ignore-error', flag) : false,
    cacheMounts: o.has('cache-mounts') ? bool(o.get('cache-mounts')!, 'cache-mounts', flag) : modeRaw === 'max',
    cacheMountMaxBytes: o.has('cache-mount-max-size')
      ? parseByteSize(o.get('cache-mount-max-size')!, `${flag} cache-mount-max-size`)
      : DEFAULT_CACHE_MOUNT_MAX_BYTES,
  };
  switch (type) {
    case 'registry':
      refuseUnknown(o, [...COMMON, 'ref', 'image-manifest', 'oci-mediatypes'], flag, type);
      if (o.get('oci-mediatypes') === 'false')
        throw new KilnError('NOT_IMPLEMENTED', `${flag}: oci-mediatypes=false is not supported; kiln writes OCI media types`);
      return {
        ...common,
        type,
        ref: checkRef(o.get('ref'), flag, spec),
        imageManifest: o.has('image-manifest') ? bool(o.get('image-manifest')!, 'image-manifest', flag) : true,
      };
    case 'local': {
      refuseUnknown(o, [...COMMON, 'dest', 'tag'], flag, type);
      const dest = o.get('dest');
      if (!dest) throw new KilnError('INVALID_ARGUMENT', `${flag} ${JSON.stringify(spec)} needs dest=DIR`);
      return { ...common, type, dest: resolvePath(dest), tag: o.get('tag') || 'latest' };
    }
    case 'inline':
      refuseUnknown(o, ['type', 'mode'], flag, type);
      // The image's own layers are the cache: only its steps can travel (BuildKit's inline is min-only too).
      if (modeRaw === 'max')
        throw new KilnError('INVALID_ARGUMENT', `${flag}: type=inline supports mode=min only`, {
          hint: 'use type=registry,mode=max to export every stage',
        });
      return { ...common, type, cacheMounts: false };
    default:
      return unsupportedType(type, flag);
  }
}

/** The text form of a spec (for `kiln serve`'s defaults passed to builds and for messages). */
export function describeCacheSource(s: CacheImport | CacheExport): string {
  if (s.type === 'registry') return s.ref;
  if (s.type === 'local') return 'src' in s ? `${s.src} (local)` : `${s.dest} (local)`;
  return 'inline';
}
