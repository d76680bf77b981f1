/**
 * ADD's remote sources: an http(s) URL downloaded to a temp file, hashed while it streams, verified against
 * `--checksum` (CHECKSUM_MISMATCH), stamped with the server's Last-Modified as its mtime and mode 0600, as
 * BuildKit's http source does. The file name in the image is `Content-Disposition`'s filename, else the URL
 * path's last component, else `__unnamed__` (download-name.ts: always one safe base name, never a path); the
 * file is created O_EXCL|O_NOFOLLOW in a fresh temp dir, so nothing the server says can make kiln write
 * elsewhere. Archives from URLs are never extracted. Git URLs are not supported yet (NOT_IMPLEMENTED).
 */
import { createHash } from 'node:crypto';
import { constants, createWriteStream, lutimesSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Digest } from '../../image/types.js';
import { KilnError } from '../../errors.js';
import { dispositionFileName, urlFileName } from './download-name.js';
import { isGitSource, isHttpSource } from '../../graph/source-kind.js';

export { isGitSource, isHttpSource };

export { urlFileName } from './download-name.js';

/** A downloaded URL, ready to be copied like a local file. */
export interface Download {
  url: string;
  /** Directory holding the file (a temp dir; remove with `cleanup()`). */
  dir: string;
  /** The file's name inside `dir`: the name it gets in the image. */
  name: string;
  /** sha256 of the content: the cache key's input for this source. */
  digest: Digest;
  size: number;
  lastModified?: Date;
  cleanup(): void;
}

export interface DownloadOptions {
  /** Parent of the temp directory (use `<root>/tmp`, on the same filesystem as the store). */
  tmpDir: string;
  /** `--checksum=sha256:<hex>`. */
  checksum?: string;
  signal?: AbortSignal;
}

/** Downloads `url`. Throws DOWNLOAD_FAILED (network, HTTP status), CHECKSUM_MISMATCH, INVALID_ARGUMENT (bad checksum). */
export async function download(url: string, opts: DownloadOptions): Promise<Download> {
  if (opts.checksum !== undefined && !/^sha256:[0-9a-f]{64}$/.test(opts.checksum)) {
    throw new KilnError('INVALID_ARGUMENT', `invalid --checksum ${JSON.stringify(opts.checksum)}`, { hint: 'use sha256:<64 hex digits>' });
  }
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'follow', signal: opts.signal });
  } catch (err) {
    if (opts.signal?.aborted) throw new KilnError('CANCELLED', `download of ${url} cancelled`);
    throw new KilnError('DOWNLOAD_FAILED', `failed to download ${url}: ${(err as Error).message}`, { cause: err });
  }
  if (!res.ok || !res.body) {
    throw new KilnError('DOWNLOAD_FAILED', `failed to download ${url}: invalid response status ${res.status}`);
  }
  const dir = mkdtempSync(join(opts.tmpDir, 'add-url-'));
  const name = dispositionFileName(res.headers.get('content-disposition')) ?? urlFileName(url);
  const file = join(dir, name);
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  const hash = createHash('sha256');
  let size = 0;
  try {
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    // A new file, never an existing one nor through a symlink, even if the name were to misbehave.
    const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    await pipeline(Readable.fromWeb(res.body as any), tap, createWriteStream('', { fd }), { signal: opts.signal });
  } catch (err) {
    cleanup();
    if (opts.signal?.aborted) throw new KilnError('CANCELLED', `download of ${url} cancelled`);
    throw new KilnError('DOWNLOAD_FAILED', `failed to download ${url}: ${(err as Error).message}`, { cause: err });
  }
  const digest = `sha256:${hash.digest('hex')}`;
  if (opts.checksum !== undefined && opts.checksum !== digest) {
    cleanup();
    throw new KilnError('CHECKSUM_MISMATCH', `digest mismatch for ${url}: expected ${opts.checksum}, got ${digest}`);
  }
  const lm = res.headers.get('last-modified');
  const lastModified = lm ? new Date(lm) : undefined;
  if (lastModified && !Number.isNaN(lastModified.getTime())) lutimesSync(file, lastModified, lastModified);
  return { url, dir, name, digest, size, lastModified: lastModified && !Number.isNaN(lastModified.getTime()) ? lastModified : undefined, cleanup };
}
