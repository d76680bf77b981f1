/**
 * Which repositories of a registry are known to hold a blob: the hint behind cross-repository mounts (as
 * containerd's `containerd.io/distribution.source.<host>` labels). Pulls and pushes record `registry/repository`
 * per digest in `<root>/registry/blob-sources.json`; a push to another repository of the same registry then asks
 * for a mount instead of uploading. It is only a hint: a lost update or a stale entry costs an upload, never
 * correctness, so the file is replaced atomically without a lock and capped in size.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../cache/atomic-file.js';
import type { Digest } from '../image/types.js';

const MAX_DIGESTS = 20_000;
const MAX_SOURCES = 8;

export interface BlobSources {
  /** Repositories of `registry` (paths, without the host) known to hold `digest`. */
  repositories(registry: string, digest: Digest): Promise<string[]>;
  /** Records that `registry/repository` holds each of `digests`. */
  record(registry: string, repository: string, digests: Digest[]): Promise<void>;
  /**
   * Every `registry/repository` known to hold each of `digests` (one read of the file). The server's
   * RepoDigests come from this: a manifest digest recorded by a push or pull is `repository@digest` there.
   */
  sourcesOf(digests: Digest[]): Promise<Map<Digest, string[]>>;
}

function blobSourcesPath(rootDir: string): string {
  return join(rootDir, 'registry', 'blob-sources.json');
}

export function createBlobSources(rootDir: string): BlobSources {
  const file = blobSourcesPath(rootDir);
  const load = async (): Promise<Record<string, string[]>> => {
    try {
      const v = JSON.parse(await readFile(file, 'utf8'));
      return v && typeof v === 'object' && !Array.isArray(v) ? v : {};
    } catch {
      return {};
    }
  };
  return {
    async repositories(registry, digest) {
      const prefix = `${registry}/`;
      return ((await load())[digest] ?? []).filter((s) => s.startsWith(prefix)).map((s) => s.slice(prefix.length));
    },
    async sourcesOf(digests) {
      const all = await load();
      return new Map(digests.map((d) => [d, Array.isArray(all[d]) ? all[d]!.filter((x) => typeof x === 'string') : []]));
    },
    async record(registry, repository, digests) {
      const all = await load();
      const src = `${registry}/${repository}`;
      for (const d of digests) {
        const list = (all[d] ?? []).filter((s) => s !== src);
        all[d] = [src, ...list].slice(0, MAX_SOURCES);
      }
      const keys = Object.keys(all);
      // Oldest insertions first in key order: drop those when over the cap.
      for (const k of keys.slice(0, Math.max(0, keys.length - MAX_DIGESTS))) delete all[k];
      await writeFileAtomic(file, JSON.stringify(all)).catch(() => undefined);
    },
  };
}
