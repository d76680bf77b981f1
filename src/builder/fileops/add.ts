/**
 * ADD: COPY's rules plus local tar archives extracted (by content, not name; `--unpack=false` turns it off),
 * http(s) URLs downloaded (http-source.ts; never extracted unless `--unpack=true`), `--checksum` for a URL,
 * `--keep-git-dir` accepted. Sources are processed in the order written, each into the same destination.
 */
import { KilnError } from '../../errors.js';
import { copyFiles, resolveDest, type CopyOptions, type CopyResult } from './copy.js';
import { download, isGitSource, isHttpSource, type Download } from './http-source.js';

export interface AddOptions extends CopyOptions {
  /** `--checksum=sha256:…` (one URL source only). */
  checksum?: string;
  /** `--keep-git-dir` (git sources; accepted, git sources are not supported yet). */
  keepGitDir?: boolean;
  /** Downloads already made for the cache key (by `download()`), by URL; others are fetched here. */
  downloads?: ReadonlyMap<string, Download>;
  /** Where to put downloads made here (required when a URL was not pre-downloaded). */
  tmpDir?: string;
  /**
   * Extract archives downloaded from URLs: only with an explicit `--unpack=true` (Docker never extracts remote
   * archives by default). Kept apart from `unpack`, whose default (true) is for local sources, so a caller that
   * passes `unpack: spec.unpack ?? true` cannot extract a remote archive by accident.
   */
  unpackUrls?: boolean;
}

/** Splits ADD sources into URLs and local paths, validating the flag combinations BuildKit rejects. */
export function classifyAddSources(sources: readonly string[], checksum?: string): { urls: string[]; local: string[] } {
  const urls: string[] = [];
  const local: string[] = [];
  for (const s of sources) {
    if (isGitSource(s)) throw new KilnError('NOT_IMPLEMENTED', `ADD from a git repository is not supported yet: ${s}`);
    if (isHttpSource(s)) urls.push(s);
    else local.push(s);
  }
  if (checksum !== undefined) {
    if (sources.length !== 1) throw new KilnError('DOCKERFILE_BAD_FLAG', "checksum can't be specified for multiple sources");
    if (urls.length !== 1) throw new KilnError('DOCKERFILE_BAD_FLAG', 'checksum requires HTTP(S) or Git sources');
  }
  return { urls, local };
}

/** Runs an ADD. Throws what copyFiles and download throw. */
export async function addFiles(opts: AddOptions): Promise<CopyResult> {
  classifyAddSources(opts.sources, opts.checksum);
  const total: CopyResult = { files: 0, dirs: 0, symlinks: 0, hardlinks: 0, archives: 0, bytes: 0 };
  const count = opts.sourceCount ?? opts.sources.length;
  const dest = resolveDest(opts.dest, opts.workdir);
  for (const src of opts.sources) {
    let r: CopyResult;
    if (isHttpSource(src)) {
      let dl = opts.downloads?.get(src);
      const own = !dl;
      if (!dl) {
        if (!opts.tmpDir) throw new KilnError('INTERNAL', 'addFiles: tmpDir is required to download URL sources');
        dl = await download(src, { tmpDir: opts.tmpDir, checksum: opts.checksum, signal: opts.signal });
      }
      try {
        r = await copyFiles({
          ...opts,
          srcRoot: dl.dir,
          sources: [dl.name.replace(/[*?[\\]/g, '\\$&')],
          sourceCount: count,
          selection: undefined,
          ignore: undefined,
          exclude: undefined,
          parents: false,
          ownership: 'reset',
          unpack: opts.unpackUrls === true,
          dest: dest.isDir ? `${dest.path}/` : dest.path,
          workdir: '/',
        });
      } finally {
        if (own) dl.cleanup();
      }
    } else {
      r = await copyFiles({ ...opts, sources: [src], sourceCount: count, selection: undefined, unpack: opts.unpack ?? true });
    }
    for (const k of Object.keys(total) as Array<keyof CopyResult>) total[k] += r[k];
  }
  return total;
}
