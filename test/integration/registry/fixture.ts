/**
 * Shared set-up for the registry integration tests: temp state roots (closed and removed by `cleanup()`), the
 * busybox base image, and synthetic images of N layers (each a valid tar, optionally gzipped, holding one file of
 * random bytes, streamed into the store: a 50 MB layer is never in memory).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import tarStream from 'tar-stream';
import { ensureBusyboxImage } from '../../../src/cache/busybox-image.js';
import { openRoot, type StoreRoot } from '../../../src/cache/root.js';
import { hostPlatform } from '../../../src/image/platform.js';
import { MediaType, type Descriptor, type ImageConfig } from '../../../src/image/types.js';

export interface Roots {
  /** A new opened root in a temp dir. */
  make(opts?: { busybox?: boolean }): Promise<StoreRoot>;
  /** A temp dir removed on cleanup. */
  dir(prefix?: string): Promise<string>;
  cleanup(): Promise<void>;
}

export function roots(): Roots {
  const opened: StoreRoot[] = [];
  const dirs: string[] = [];
  return {
    async dir(prefix = 'kiln-reg-test-') {
      const d = await mkdtemp(join(tmpdir(), prefix));
      dirs.push(d);
      return d;
    },
    async make(opts = {}) {
      const d = await mkdtemp(join(tmpdir(), 'kiln-reg-root-'));
      dirs.push(d);
      const root = await openRoot(d);
      opened.push(root);
      if (opts.busybox) await ensureBusyboxImage(root);
      return root;
    },
    async cleanup() {
      for (const r of opened.splice(0)) await r.close().catch(() => undefined);
      for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
    },
  };
}

/**
 * Writes a tar layer with one file of `size` random bytes into the store, streaming, gzip-compressed when asked
 * (level 1: the bytes are random anyway); returns its descriptor and diff ID (digest of the plain tar).
 */
export async function randomLayer(root: StoreRoot, size: number, name = 'data.bin', gzip = false): Promise<{ desc: Descriptor; diffId: string }> {
  const tar = tarStream.pack();
  const w = await root.content.writer();
  const hash = createHash('sha256');
  const plain = async function* (src: AsyncIterable<unknown>) {
    for await (const c of src) {
      hash.update(c as Buffer);
      yield c as Buffer;
    }
  };
  const done = gzip ? pipeline(tar, plain, createGzip({ level: 1 }), w.stream) : pipeline(tar, plain, w.stream);
  const entry = tar.entry({ name, size, mode: 0o644, mtime: new Date(0) });
  await pipeline(
    Readable.from(
      (async function* () {
        for (let left = size; left > 0; left -= 1 << 20) yield randomBytes(Math.min(left, 1 << 20));
      })(),
    ),
    entry,
  );
  tar.finalize();
  await done;
  const info = await w.commit();
  return {
    desc: { mediaType: gzip ? MediaType.OciLayerGzip : MediaType.OciLayer, digest: info.digest, size: info.size },
    diffId: `sha256:${hash.digest('hex')}`,
  };
}

/** An image of `sizes.length` random layers tagged `tag` (uncompressed tars unless `gzip`). */
export async function makeImage(
  root: StoreRoot,
  tag: string,
  sizes: number[],
  platform = hostPlatform(),
  opts: { gzip?: boolean } = {},
): Promise<{ manifestDigest: string; layers: Descriptor[] }> {
  const made: Array<{ desc: Descriptor; diffId: string }> = [];
  for (const [i, s] of sizes.entries()) made.push(await randomLayer(root, s, `layer-${i}.bin`, opts.gzip));
  const layers = made.map((m) => m.desc);
  const config: ImageConfig = {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: made.map((m) => m.diffId) },
  };
  const w = await root.images.writeImage({ config, layers, tags: [tag] });
  return { manifestDigest: w.manifestDigest, layers };
}

/** Files left in a root's tmp area (a failed transfer must leave none). */
export async function tempFiles(root: StoreRoot): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else out.push(join(d, e.name));
    }
  };
  await walk(root.paths.tmp);
  return out;
}
