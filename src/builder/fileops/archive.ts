/**
 * ADD's local archive auto-extraction. A source is an archive when its bytes say so — a compression magic (gzip,
 * bzip2, xz, zstd) or none, followed by a valid tar header — never by its file name, as Docker's `isArchivePath`.
 * Extraction goes through the layer unpacker (cache/apply-layer.ts over tar/reader.ts), so layers and
 * ADD share one tar reader (PAX values as bytes: a binary `security.capability` survives), one confinement
 * (tar/confine.ts: the destination directory acts as `/`, `../` escapes are refused with UNSAFE_PATH,
 * an archive symlink is followed only inside it, hardlinks must point inside) and one xattr rule (overlayfs's
 * `trusted.overlay.*` never applied). As moby's Unpack with ChownOpts/BestEffortXattrs: `.wh.` members are
 * ordinary files, a `.` entry leaves the existing destination's owner and mode alone, owners come from the
 * archive unless `--chown` is given, and xattrs the file system refuses are skipped.
 */
import { closeSync, constants as fsc, createReadStream, mkdirSync, openSync, readSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KilnError } from '../../errors.js';
import { createApplier } from '../../cache/apply-layer.js';
import { createDecompressStream, sniffCompression, type AnyCompression } from '../../layers/compression.js';
import { readTar } from '../../tar/reader.js';
import type { Owner } from './chown.js';

/** What an ADD archive may be compressed with (the decompressors are layers/compression.ts's). */
export type Compression = AnyCompression;
export { sniffCompression };

/** True when `block` (512 bytes) is a tar header with a correct checksum. */
export function isTarHeader(block: Buffer): boolean {
  if (block.length < 512) return false;
  const stored = parseInt(block.toString('latin1', 148, 156).replace(/\0.*$/s, '').trim(), 8);
  if (Number.isNaN(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : block[i];
  return sum === stored;
}

/** Opens `file` for reading without following a symlink (the source was resolved inside its root already). */
function openSource(file: string, signal?: AbortSignal): Readable {
  const fd = openSync(file, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  return createReadStream('', { fd, signal });
}

/** A decompressed stream of `file` and a `close()` that stops reading early (sniffing reads only the first block). */
function openDecompressed(file: string, kind: Compression, signal?: AbortSignal): { stream: Readable; close(): void } {
  const raw = openSource(file, signal);
  const out = raw.pipe(createDecompressStream(kind));
  raw.on('error', (err) => out.destroy(err));
  return {
    stream: out,
    close: () => {
      raw.destroy();
      out.destroy();
    },
  };
}

/** The compression of `file` when it is a tar archive (possibly compressed), else undefined. */
export async function detectArchive(file: string, signal?: AbortSignal): Promise<Compression | undefined> {
  const fd = openSync(file, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  const head = Buffer.alloc(512);
  let n: number;
  try {
    n = readSync(fd, head, 0, 512, 0);
  } finally {
    closeSync(fd);
  }
  const kind = sniffCompression(head.subarray(0, n));
  if (kind === 'none') return n === 512 && isTarHeader(head) ? 'none' : undefined;
  const { stream, close } = openDecompressed(file, kind, signal);
  let got = Buffer.alloc(0);
  try {
    for await (const chunk of stream) {
      got = Buffer.concat([got, chunk as Buffer]);
      if (got.length >= 512) break;
    }
  } catch {
    return undefined;
  } finally {
    close();
  }
  return got.length >= 512 && isTarHeader(got.subarray(0, 512)) ? kind : undefined;
}

export interface ExtractOptions {
  /** `--chown`: every entry gets this owner instead of the archive's. */
  owner?: Owner;
  /** The archive as the user named it (`app.tar`), for messages; default `file`. */
  name?: string;
  signal?: AbortSignal;
}

/** Extracts the tar `file` (compression `kind`) into the host directory `destDir`; returns the member count. */
export async function extractArchive(file: string, kind: Compression, destDir: string, opts: ExtractOptions = {}): Promise<number> {
  mkdirSync(destDir, { recursive: true });
  const applier = createApplier(destDir, {
    whiteouts: 'keep',
    rootEntry: 'skip',
    bestEffortXattrs: true,
    owner: opts.owner,
    source: opts.name ?? file,
    signal: opts.signal,
  });
  // The unpacker's own error wins: stopping early destroys the input, whose AbortError can reach pipeline first.
  let failure: unknown;
  try {
    await pipeline(
      openSource(file, opts.signal),
      createDecompressStream(kind),
      async (source: AsyncIterable<Buffer>) => {
        try {
          for await (const { entry, body } of readTar(source, { signal: opts.signal, source: opts.name ?? file })) await applier.add(entry, body);
        } catch (err) {
          failure ??= err;
          throw err;
        }
      },
      { signal: opts.signal },
    );
  } catch (caught) {
    const err = failure ?? caught;
    if (opts.signal?.aborted) throw new KilnError('CANCELLED', 'archive extraction cancelled', { cause: err });
    if (err instanceof KilnError) throw err;
    throw new KilnError('ARCHIVE_INVALID', `cannot extract ${opts.name ?? file}: ${(err as Error).message}`, { cause: err });
  }
  // Directory times last: writing entries into a directory moves its mtime.
  applier.finish();
  return applier.stats.entries;
}
