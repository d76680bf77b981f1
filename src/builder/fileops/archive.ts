/**
 * ADD's local archive auto-extraction. A source is an archive when its bytes say so — a compression magic (gzip,
 * bzip2, xz, zstd) or none, followed by a valid tar header — never by its file name, as Docker's `isArchivePath`.
 * Extraction is confined to the destination directory the way Docker's chrootarchive is (the directory acts as `/`):
 * entries are cleaned, `../` escapes are refused (UNSAFE_PATH), parents are resolved with resolveInRoot so an
 * archive symlink cannot redirect a later entry outside, hardlinks must point inside, an existing path is replaced
 * unless both are directories (then merged). Owners come from the archive unless `--chown` is given.
 */
import { spawn } from 'node:child_process';
import { closeSync, createReadStream, createWriteStream, linkSync, mkdirSync, openSync, readSync, rmSync, symlinkSync } from 'node:fs';
import { chmod, lchown, lutimes } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { KilnError } from '../../errors.js';
import type { Owner } from './chown.js';
import { makeNode } from './special-files.js';
import { setXattr } from '../../exporter/tar/fsx.js';
import { lstatOrUndefined, resolveInRoot } from './root-path.js';

export type Compression = 'none' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

/** The compression a file's first bytes announce ('none' when no known magic). */
export function sniffCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 3 && head.toString('latin1', 0, 3) === 'BZh') return 'bzip2';
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

/** True when `block` (512 bytes) is a tar header with a correct checksum. */
export function isTarHeader(block: Buffer): boolean {
  if (block.length < 512) return false;
  const stored = parseInt(block.toString('latin1', 148, 156).replace(/\0.*$/s, '').trim(), 8);
  if (Number.isNaN(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : block[i];
  return sum === stored;
}

/**
 * A decompressed stream of `file` (external bzip2/xz/zstd tools, all installed by scripts/setup.sh) and a
 * `close()` that stops reading and ends the tool early (sniffing reads only the first block).
 */
function openDecompressed(file: string, kind: Compression, signal?: AbortSignal): { stream: Readable; close(): void } {
  const raw = createReadStream(file, { signal });
  if (kind === 'none') return { stream: raw, close: () => raw.destroy() };
  if (kind === 'gzip') {
    const gunzip = raw.pipe(createGunzip());
    return { stream: gunzip, close: () => { raw.destroy(); gunzip.destroy(); } };
  }
  const tool = kind === 'bzip2' ? 'bzip2' : kind === 'xz' ? 'xz' : 'zstd';
  const child = spawn(tool, ['-dc'], { stdio: ['pipe', 'pipe', 'ignore'], signal });
  raw.pipe(child.stdin);
  child.stdin.on('error', () => {});
  child.on('error', (err) => child.stdout.destroy(new KilnError('ARCHIVE_INVALID', `${tool} failed: ${err.message}`)));
  child.on('close', (code) => {
    if (code !== 0 && code !== null && !child.stdout.destroyed) child.stdout.destroy(new KilnError('ARCHIVE_INVALID', `${file}: ${tool} exited with ${code}`));
  });
  return { stream: child.stdout, close: () => { raw.destroy(); child.kill(); } };
}

/** The compression of `file` when it is a tar archive (possibly compressed), else undefined. */
export async function detectArchive(file: string, signal?: AbortSignal): Promise<Compression | undefined> {
  const fd = openSync(file, 'r');
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
  signal?: AbortSignal;
}

/** Extracts the tar `file` (compression `kind`) into the host directory `destDir`; returns the entry count. */
export async function extractArchive(file: string, kind: Compression, destDir: string, opts: ExtractOptions = {}): Promise<number> {
  mkdirSync(destDir, { recursive: true });
  const extract = tar.extract();
  const dirTimes: Array<{ path: string; mtime: Date }> = [];
  let count = 0;
  const asRoot = process.getuid?.() === 0;
  const done = (async () => {
    for await (const entry of extract) {
      const h = entry.header;
      const name = posix.normalize(`${h.name}`.replace(/^\/+/, ''));
      if (name === '..' || name.startsWith('../')) {
        entry.resume();
        throw new KilnError('UNSAFE_PATH', `archive entry ${JSON.stringify(h.name)} points outside the destination`, { hint: `in ${file}` });
      }
      if (name === '.' || name === '') { entry.resume(); continue; }
      const parent = resolveInRoot(destDir, posix.dirname(name));
      mkdirSync(parent, { recursive: true });
      const target = join(parent, posix.basename(name));
      const existing = lstatOrUndefined(target);
      if (existing && !(existing.isDirectory() && h.type === 'directory')) rmSync(target, { recursive: true, force: true });
      const mode = (h.mode ?? 0o644) & 0o7777;
      switch (h.type) {
        case 'directory':
          // An earlier entry of this name that was not a directory (a symlink, say) was removed above.
          if (!existing?.isDirectory()) mkdirSync(target, { mode: 0o700 });
          entry.resume();
          break;
        case 'file':
        case 'contiguous-file':
          await pipeline(entry, createWriteStream(target, { mode: 0o600 }));
          break;
        case 'symlink':
          symlinkSync(h.linkname ?? '', target);
          entry.resume();
          break;
        case 'link': {
          const ln = posix.normalize(`${h.linkname ?? ''}`.replace(/^\/+/, ''));
          if (ln === '..' || ln.startsWith('../')) throw new KilnError('UNSAFE_PATH', `archive hardlink ${JSON.stringify(h.name)} -> ${JSON.stringify(h.linkname)} points outside the destination`);
          const src = resolveInRoot(destDir, ln, { followFinal: false });
          linkSync(src, target);
          entry.resume();
          break;
        }
        case 'character-device':
        case 'block-device':
        case 'fifo':
          makeNode(target, h.type === 'fifo' ? 'p' : h.type === 'character-device' ? 'c' : 'b', h.devmajor ?? 0, h.devminor ?? 0);
          entry.resume();
          break;
        default:
          // pax/gnu metadata are consumed by tar-stream; anything else (sockets, unknown types) is skipped.
          entry.resume();
          continue;
      }
      count++;
      if (h.type === 'link') continue;
      const owner = opts.owner ?? { uid: h.uid ?? 0, gid: h.gid ?? 0 };
      try {
        await lchown(target, owner.uid, owner.gid);
      } catch (err) {
        if (asRoot) throw err;
      }
      if (h.type !== 'symlink') await chmod(target, mode);
      setPaxXattrs(target, (h as { pax?: Record<string, string> }).pax);
      const mtime = h.mtime ?? new Date(0);
      if (h.type === 'directory') dirTimes.push({ path: target, mtime });
      else await lutimes(target, mtime, mtime);
    }
  })();
  const feed = pipeline(openDecompressed(file, kind, opts.signal).stream, extract);
  feed.catch(() => {}); // reported through `done` or below
  try {
    await done.catch((err) => {
      extract.destroy();
      throw err;
    });
    await feed;
  } catch (err) {
    if (err instanceof KilnError) throw err;
    throw new KilnError('ARCHIVE_INVALID', `cannot extract ${file}: ${(err as Error).message}`, { cause: err });
  }
  // Directory times last: writing entries into a directory moves its mtime.
  for (const d of dirTimes.reverse()) await lutimes(d.path, d.mtime, d.mtime);
  return count;
}

/** Applies `SCHILY.xattr.*` PAX records (best effort, as Docker's BestEffortXattrs). */
function setPaxXattrs(target: string, pax: Record<string, string> | undefined | null): void {
  if (!pax) return;
  for (const [k, v] of Object.entries(pax)) {
    if (!k.startsWith('SCHILY.xattr.')) continue;
    try {
      setXattr(target, k.slice('SCHILY.xattr.'.length), Buffer.from(v, 'latin1'));
    } catch {
      // unsupported by the filesystem or our privileges: skipped
    }
  }
}

