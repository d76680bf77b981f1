/**
 * Adapters from the real components to the builder's ports (src/builder/ports.ts): the layer writer, the file
 * operations (with one stat cache per builder, flushed after each build), the registry's pull. `openBuilder(rootDir)` wires
 * a ready builder over a state root, for the CLI and the server.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { join, posix, relative } from 'node:path';
import type { StoreRoot } from '../cache/root.js';
import type { ContentStore } from '../cache/types.js';
import { phase } from '../cache/profile.js';
import type { Compression } from '../layers/compression.js';
import { checksumSources, createEntryMemo } from './fileops/checksum.js';
import { openStatCache, statCachePath, type StatCache } from './fileops/stat-cache.js';
import type { SelectedSource } from './fileops/select.js';
import type { CopySpec, FileOpsPort, LayerPort, PullPort } from './ports.js';
import { pullStatusHandler } from './pull-progress.js';

// Start-up matters (a no-op rebuild is mostly process start): modules only a cache miss needs (layer writing,
// compression with its native zstd, copying, downloads) load on first use.
const layerMods = () => Promise.all([import('../layers/layer-diff.js'), import('../exporter/layer-writer.js'), import('../layers/compression.js')]);
const copyMods = () => Promise.all([import('./fileops/copy.js'), import('./fileops/add.js'), import('./fileops/heredoc.js')]);
const isHttpSource = (s: string) => /^https?:\/\//i.test(s);

/** The exporter's layer-diff + layer-writer as a LayerPort. */
export function layerPort(content: ContentStore): LayerPort {
  return {
    async writeLayer(dir, opts) {
      const [{ layerTar }, { writeLayer }] = await phase('layer.load-modules', layerMods);
      const tar = layerTar(dir, { mode: 'overlay', sourceDateEpoch: opts.sourceDateEpoch, signal: opts.signal });
      const w = await writeLayer(content, tar, {
        compression: opts.compression,
        format: opts.mediaFormat,
        lease: opts.lease,
        deferDurable: opts.deferDurable,
        signal: opts.signal,
      });
      return { descriptor: w.descriptor, diffId: w.diffId, size: w.uncompressedSize, ...(w.durable ? { durable: w.durable } : {}) };
    },
    async writeTree(dir, opts) {
      const [{ dirTar }, { writeLayer }] = await layerMods();
      const w = await writeLayer(content, dirTar(dir, { signal: opts.signal }), { compression: opts.compression, lease: opts.lease, signal: opts.signal });
      return { descriptor: w.descriptor, diffId: w.diffId, size: w.uncompressedSize };
    },
    async recompress(blob, compression: Compression, opts) {
      const [, { writeLayer }, { createDecompressStream }] = await layerMods();
      const src = await content.read(blob.digest, { signal: opts.signal });
      const plain = src.pipe(createDecompressStream('auto'));
      const w = await writeLayer(content, plain, { compression, lease: opts.lease, signal: opts.signal });
      return w.descriptor;
    },
  };
}

/** The file operations (fileops/) as a FileOpsPort, with a persistent stat cache under `rootDir`. */
export function fileOpsPort(rootDir: string, tmpDir: string): FileOpsPort & { flush(): void; readonly statCache: StatCache } {
  const statCache = openStatCache(statCachePath(rootDir));
  const memo = createEntryMemo();
  const ownership = (spec: CopySpec) => (spec.fromContext ? 'reset' : 'keep') as 'reset' | 'keep';
  return {
    statCache,
    flush: () => statCache.flush(),
    async checksum(spec, opts) {
      const parts: string[] = [];
      let files: Record<string, string> = {};
      const urls = spec.add ? spec.sources.filter(isHttpSource) : [];
      const local = spec.sources.filter((s) => !urls.includes(s));
      if (local.length) {
        const sum = await phase('copy.checksum', () =>
          checksumSources(spec.srcRoot, local, {
            ignore: spec.ignore,
            exclude: spec.exclude,
            parents: spec.parents,
            statCache,
            ownership: ownership(spec),
            signal: opts.signal,
            // Paths as the user writes them (relative to the source root, normalised), for --explain and the record.
            manifestPaths: 'relative',
            memo,
          }),
        );
        parts.push(sum.digest);
        // The memo's manifest is frozen and shared: copied when URLs or heredocs add to it below.
        files = urls.length || spec.heredocs.length ? { ...sum.manifest } : (sum.manifest as Record<string, string>);
      }
      for (const url of urls) {
        if (spec.checksum) {
          parts.push(`${url} ${spec.checksum}`);
          continue;
        }
        // BuildKit keys a URL by its content and the file name it gets (a Content-Disposition can rename the same
        // bytes): fetch it once for the key (the copy fetches again on a miss).
        const dir = await mkdtemp(join(tmpDir, 'dl-'));
        const { download } = await import('./fileops/http-source.js');
        try {
          const dl = await download(url, { tmpDir: dir, signal: opts.signal });
          parts.push(`${url} ${JSON.stringify(dl.name)} ${dl.digest}`);
          files[url] = dl.digest;
          dl.cleanup();
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }
      if (spec.heredocs.length) {
        const { heredocDigest } = await import('./fileops/heredoc.js');
        const d = heredocDigest(spec.heredocs);
        parts.push(d);
        for (const h of spec.heredocs) files[`<<${h.name}`] = `sha256:${createHash('sha256').update(h.content).digest('hex')}`;
      }
      return { digest: `sha256:${createHash('sha256').update(parts.join('\n')).digest('hex')}`, files };
    },
    async copy(spec, destRoot, opts) {
      const [{ copyFiles }, { addFiles }, { copyHeredocs }] = await copyMods();
      const common = {
        destRoot,
        passwdRoot: opts.passwdRoot,
        dest: spec.dest,
        workdir: spec.workdir,
        chown: spec.chown,
        chmod: spec.chmod,
        signal: opts.signal,
        sourceCount: spec.sources.length + spec.heredocs.length,
      };
      if (spec.sources.length) {
        let selection: SelectedSource[] | undefined;
        if (opts.only && !spec.add) {
          const { selectSources } = await import('./fileops/select.js');
          const all = await selectSources(spec.srcRoot, spec.sources, { ignore: spec.ignore, exclude: spec.exclude, parents: spec.parents });
          const key = (abs: string) => posix.normalize(relative(spec.srcRoot, abs));
          const seen = new Set<string>();
          // Keep each source's top entry (it decides the destination) and the entries that changed.
          const filtered = all.map((src) => ({
            ...src,
            entries: src.entries.filter((e, i) => {
              const hit = opts.only!.has(key(e.abs));
              if (hit) seen.add(key(e.abs));
              return i === 0 || hit;
            }),
          }));
          selection = [...opts.only].every((p) => seen.has(p)) ? filtered : all;
        }
        const o = {
          ...common,
          srcRoot: spec.srcRoot,
          sources: spec.sources,
          parents: spec.parents,
          exclude: spec.exclude,
          ignore: spec.ignore,
          ownership: ownership(spec),
          selection,
        };
        if (spec.add) await addFiles({ ...o, checksum: spec.checksum, unpack: spec.unpack ?? true, tmpDir });
        else await copyFiles(o);
      }
      if (spec.heredocs.length) {
        await copyHeredocs({
          ...common,
          heredocs: spec.heredocs,
          tmpDir,
          mtime: spec.sourceDateEpoch !== undefined ? new Date(spec.sourceDateEpoch * 1000) : undefined,
        });
      }
    },
  };
}

/** The registry's pull as a PullPort over an opened root. */
export function pullPort(root: StoreRoot): PullPort {
  return {
    async pull(ref, opts) {
      const { pullImage } = await import('../registry/pull.js');
      await pullImage(root, ref, {
        platform: opts.platform,
        signal: opts.signal,
        // Blob state changes, and each layer's bytes throttled per layer, for buildx-like per-layer lines.
        onProgress: opts.onStatus && pullStatusHandler(opts.onStatus),
      });
      return root.images.resolve(ref, { platform: opts.platform ? (await import('../image/platform.js')).parsePlatform(opts.platform) : undefined });
    },
  };
}
