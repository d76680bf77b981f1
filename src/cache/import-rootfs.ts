/**
 * `kiln import`: a root filesystem tarball (plain, gzip, zstd, bzip2, xz) becomes a one-layer image. The tar is
 * kept byte for byte (its sha256 is the diff ID) and stored gzip-compressed, in one streaming pass: the
 * decompressed bytes go both to a tar reader that checks every member name (no `..` escapes, no absolute
 * paths, hard links inside the tree) and to the compressor feeding the content writer. Any bad member aborts
 * the write, so a rejected file leaves the store unchanged.
 */
import { PassThrough, Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KilnError } from '../errors.js';
import { createCompressStream, createDecompressStream } from '../layers/compression.js';
import { readTar } from '../tar/reader.js';
import { applyChange } from '../image/change.js';
import { DigestStream } from '../image/digest.js';
import { hostPlatform } from '../image/platform.js';
import { parseReference } from '../image/reference.js';
import { MediaType, type ContainerConfig, type ImageConfig } from '../image/types.js';
import type { StoreRoot } from './root.js';
import type { IoOptions } from './types.js';

export interface ImportOptions extends IoOptions {
  /** Name used in errors and the history comment (a file path, or `-`). */
  source: string;
  /** Tag for the new image (optional; untagged images are listed as `<none>`). */
  ref?: string;
  /** `--change` instructions, applied in order. */
  changes?: string[];
  /** History comment (default `Imported from SOURCE`). */
  message?: string;
}

/** Throws UNSAFE_PATH when a member name is absolute or climbs out with `..`. */
export function checkMemberName(name: string, where: string, what = 'member'): void {
  if (name.startsWith('/')) throw new KilnError('UNSAFE_PATH', `${where}: ${what} "${name}" is an absolute path`);
  if (name.split('/').includes('..')) throw new KilnError('UNSAFE_PATH', `${where}: ${what} "${name}" contains ".." (points outside the root)`);
}

/** Passes chunks on and copies them into `side` too, waiting for `side` to drain (backpressure both ways). */
class Tee extends Transform {
  constructor(private readonly side: PassThrough) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.push(chunk);
    if (this.side.write(chunk)) cb();
    else this.side.once('drain', () => cb());
  }
  override _flush(cb: TransformCallback): void {
    this.side.end();
    cb();
  }
}

/** Imports `input` as a one-layer image; returns the new image's config digest (its ID) and manifest digest. */
export async function importRootfs(root: StoreRoot, input: Readable, opts: ImportOptions): Promise<{ id: string; manifestDigest: string }> {
  const where = opts.source === '-' ? 'stdin' : opts.source;
  const container: ContainerConfig = {};
  for (const c of opts.changes ?? []) applyChange(container, c);
  if (opts.ref) {
    // Validate the tag before any work: a bad name must not cost a 1 GiB import.
    parseReference(opts.ref);
  }
  const lease = root.lease();
  try {
    const ac = new AbortController();
    const abortAll = () => ac.abort(opts.signal?.reason);
    opts.signal?.addEventListener('abort', abortAll, { once: true });
    const side = new PassThrough({ highWaterMark: 4 << 20 });
    const diff = new DigestStream();
    const writer = await root.content.writer({ lease });
    let members = 0;
    const check = (async () => {
      for await (const m of readTar(side, { source: where })) {
        members++;
        checkMemberName(m.entry.name, where);
        if (m.entry.type === 'link' && m.entry.linkname !== undefined) checkMemberName(m.entry.linkname, where, 'hard link target');
        for await (const _ of m.body) {
          /* names only */
        }
      }
      for await (const _ of side) {
        /* drain trailing padding */
      }
    })().catch((err) => {
      ac.abort(err);
      throw err;
    });
    let blob;
    try {
      const piped = pipeline(input, createDecompressStream('auto'), new Tee(side), diff, createCompressStream('gzip'), writer.stream, {
        signal: ac.signal,
      }).catch((err) => {
        side.destroy();
        throw err;
      });
      // When one side fails the other sees a premature close: report the coded failure (a bad member name, a
      // truncated stream) over that echo, and never a raw stream error.
      const failures = (await Promise.allSettled([check, piped])).flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
      if (failures.length > 0) {
        const coded = failures.find((e) => e instanceof KilnError);
        if (coded) {
          // The decompressor does not know the file's name; the user needs it.
          if ((coded as KilnError).message.includes(where)) throw coded;
          throw new KilnError((coded as KilnError).code, `${where}: ${coded.message}`, { cause: coded });
        }
        const e = failures.find((f) => (f as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') ?? failures[0]!;
        throw new KilnError('ARCHIVE_INVALID', `${where}: cannot read the archive: ${e.message}`, { cause: e });
      }
      if (members === 0) throw new KilnError('ARCHIVE_INVALID', `${where}: not a tar archive (no members)`);
      blob = await writer.commit();
    } catch (err) {
      await writer.abort();
      throw err;
    } finally {
      opts.signal?.removeEventListener('abort', abortAll);
    }
    const p = hostPlatform();
    const now = new Date().toISOString();
    const config: ImageConfig = {
      architecture: p.architecture,
      os: 'linux',
      ...(p.variant ? { variant: p.variant } : {}),
      created: now,
      config: container,
      rootfs: { type: 'layers', diff_ids: [diff.digest()] },
      history: [{ created: now, created_by: '', comment: opts.message ?? `Imported from ${opts.source}` }],
    };
    const written = await root.images.writeImage({
      config,
      layers: [{ mediaType: MediaType.OciLayerGzip, digest: blob.digest, size: blob.size }],
      format: 'oci',
      tags: opts.ref ? [opts.ref] : [],
      lease,
      signal: opts.signal,
    });
    return { id: written.configDigest, manifestDigest: written.manifestDigest };
  } finally {
    await lease.release();
  }
}
