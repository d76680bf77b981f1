/**
 * Compression of layer streams: gzip (zlib), zstd (zstd-napi), none; plus decompression of anything a layer or
 * an ADD archive may arrive in, sniffed from its magic bytes (bzip2 and xz go through Debian's `bzip2`/`xz`, which
 * Node lacks).
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { Duplex, PassThrough, Transform, type TransformCallback } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import type * as ZstdNapi from 'zstd-napi';
import { KilnError } from '../errors.js';
import { MediaType } from '../image/types.js';
import { ParallelGzip } from './parallel-gzip.js';

/**
 * zstd-napi, loaded on first use: its native binding took 10-40 ms to load here, and a gzip build (the
 * default) never needs it. A plain `require` keeps createCompressStream synchronous.
 */
let zstdModule: typeof ZstdNapi | undefined;
function zstd(): typeof ZstdNapi {
  return (zstdModule ??= createRequire(import.meta.url)('zstd-napi') as typeof ZstdNapi);
}

/** What a layer can be written as. */
export type Compression = 'gzip' | 'zstd' | 'none';
/** What a stream can be read from. */
export type AnyCompression = Compression | 'bzip2' | 'xz';

/**
 * gzip level 1: on a 124 MB tar of binaries and docs here, level 1 ran 1.4-1.9x faster than zlib's default 6
 * for a 3% larger blob (0.568 vs 0.550 of the input). Layers are written on every build, so speed wins; users
 * who want size pick zstd, which ran 4x faster than gzip -1 at 0.496.
 */
const GZIP_LEVEL = 1;
/** zstd's own default: faster than gzip -1 and smaller than gzip -6. */
const ZSTD_LEVEL = 3;
/** Bigger zlib chunks cut per-chunk overhead (default 16 KiB). */
const ZLIB_CHUNK = 128 * 1024;

/**
 * A Transform that compresses with `kind` (a pass-through for `none`). gzip runs on every core as
 * independent 1 MiB members (see parallel-gzip.ts) unless `parallel: false` asks for one classic member.
 */
export function createCompressStream(kind: Compression, opts: { level?: number; parallel?: boolean } = {}): Transform {
  switch (kind) {
    case 'gzip':
      if (opts.parallel === false) return createGzip({ level: opts.level ?? GZIP_LEVEL, chunkSize: ZLIB_CHUNK });
      return new ParallelGzip({ level: opts.level ?? GZIP_LEVEL });
    case 'zstd':
      return new (zstd().CompressStream)({ compressionLevel: opts.level ?? ZSTD_LEVEL });
    case 'none':
      return new PassThrough();
  }
}

/**
 * Names the compression from a stream's first bytes (at least 6 for xz). Anything unrecognised is `none`
 * (a plain tar starts with a file name).
 */
export function sniffCompression(head: Uint8Array): AnyCompression {
  const b = head;
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (b.length >= 4 && b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd) return 'zstd';
  if (b.length >= 3 && b[0] === 0x42 && b[1] === 0x5a && b[2] === 0x68) return 'bzip2';
  if (b.length >= 6 && b[0] === 0xfd && b[1] === 0x37 && b[2] === 0x7a && b[3] === 0x58 && b[4] === 0x5a && b[5] === 0x00) return 'xz';
  return 'none';
}

/** Bytes `sniffCompression` needs to decide. */
const SNIFF_BYTES = 6;

/** A decompressing stream for a known kind. bzip2/xz run Debian's tools as child processes. */
export function createDecompressStream(kind: AnyCompression | 'auto'): Duplex {
  switch (kind) {
    case 'auto':
      return new SniffingDecompressor();
    case 'gzip':
      // Concatenated members (kiln's parallel gzip, pigz) are read whole by default; a truncated stream errors.
      return createGunzip({ chunkSize: ZLIB_CHUNK });
    case 'zstd':
      return new (zstd().DecompressStream)();
    case 'none':
      return new PassThrough();
    case 'bzip2':
      return toolFilter('bzip2', ['-dc']);
    case 'xz':
      return toolFilter('xz', ['-dc']);
  }
}

/** Wraps a filter program (`xz -dc`) as a Duplex: stdin is the writable side, stdout the readable one. */
function toolFilter(cmd: string, args: string[]): Duplex {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const duplex = Duplex.from({ writable: child.stdin, readable: child.stdout });
  child.on('error', (err) =>
    duplex.destroy(new KilnError('PRECONDITION', `${cmd} is needed to decompress this stream`, { cause: err, hint: 'run scripts/setup.sh' })),
  );
  child.on('close', (code) => {
    if (code !== 0 && code !== null) duplex.destroy(new KilnError('ARCHIVE_INVALID', `${cmd} -d failed: ${stderr.trim() || `exit ${code}`}`));
  });
  duplex.on('close', () => {
    if (child.exitCode === null) child.kill();
  });
  return duplex;
}

/**
 * Buffers the first bytes, picks a decompressor from them, then forwards everything through it with
 * backpressure both ways. Used for layer blobs whose media type may lie (Docker's `.tar` layers that are gzip).
 */
class SniffingDecompressor extends Transform {
  private head: Buffer[] = [];
  private headLen = 0;
  private inner?: Duplex;
  /** The compression picked, once known. */
  detected?: AnyCompression;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.inner) return this.forward(chunk, cb);
    this.head.push(chunk);
    this.headLen += chunk.length;
    if (this.headLen < SNIFF_BYTES) return cb();
    this.start();
    this.forward(this.takeHead(), cb);
  }

  override _flush(cb: TransformCallback): void {
    if (!this.inner) {
      this.start();
      if (this.headLen > 0) this.inner!.write(this.takeHead());
    }
    const inner = this.inner!;
    inner.once('end', () => cb());
    inner.end();
  }

  override _read(size: number): void {
    this.inner?.resume();
    super._read(size);
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    this.inner?.destroy();
    cb(err);
  }

  private takeHead(): Buffer {
    const b = Buffer.concat(this.head);
    this.head = [];
    return b;
  }

  private start(): void {
    this.detected = sniffCompression(Buffer.concat(this.head));
    const inner = createDecompressStream(this.detected);
    inner.on('data', (d: Buffer) => {
      if (!this.push(d)) inner.pause();
    });
    inner.on('error', (err) => this.destroy(wrapDecompressError(err, this.detected!)));
    this.inner = inner;
  }

  private forward(chunk: Buffer, cb: TransformCallback): void {
    if (this.inner!.write(chunk)) cb();
    else this.inner!.once('drain', () => cb());
  }
}

function wrapDecompressError(err: Error, kind: AnyCompression): Error {
  if (err instanceof KilnError) return err;
  return new KilnError('ARCHIVE_INVALID', `corrupt ${kind} stream: ${err.message}`, { cause: err });
}

/** The layer media type for a compression in an OCI or a Docker schema2 manifest. Docker has no zstd type; OCI's is used. */
export function layerMediaType(kind: Compression, format: 'oci' | 'docker' = 'oci'): string {
  if (format === 'docker') {
    if (kind === 'gzip') return MediaType.DockerLayerGzip;
    if (kind === 'none') return MediaType.DockerLayer;
    return MediaType.OciLayerZstd;
  }
  if (kind === 'gzip') return MediaType.OciLayerGzip;
  if (kind === 'zstd') return MediaType.OciLayerZstd;
  return MediaType.OciLayer;
}

/** The compression a layer media type declares (`undefined` for a type that is not a layer). */
export function compressionOfMediaType(mediaType: string): Compression | undefined {
  if (mediaType.endsWith('+gzip') || mediaType.endsWith('.tar.gzip')) return 'gzip';
  if (mediaType.endsWith('+zstd')) return 'zstd';
  if (mediaType.endsWith('.tar') || mediaType.endsWith('.diff.tar')) return 'none';
  return undefined;
}
