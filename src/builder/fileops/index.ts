/**
 * The builder's file operations (COPY, ADD): what the builder's dispatch calls. Typical use for a COPY from the context:
 *
 *   const selection = await selectSources(contextDir, sources, { ignore, exclude, parents });
 *   const { digest, manifest } = await checksumSelection(selection, { statCache, ownership: 'reset' });
 *   // … cache key from digest; on a miss, with the step's rootfs mounted at rootfs:
 *   await copyFiles({ srcRoot: contextDir, sources, destRoot: rootfs, dest, workdir, chown, chmod,
 *                     ignore, exclude, parents, ownership: 'reset', selection });
 *
 * From a stage or image: srcRoot is its mounted rootfs and ownership 'keep'. `--link`: destRoot is an empty
 * directory that becomes the layer on its own, passwdRoot the base rootfs (for `--chown` names).
 */
export { resolveInRoot, cleanAbs, escapesBase } from './root-path.js';
export { goMatch, hasWildcards, resolveWildcards, unescapeGlob } from './glob.js';
export { createPatternMatcher, matcherFrom, type PathMatcher } from './patterns.js';
export { selectSources, parentsSplit, type Entry, type SelectedSource, type SelectOptions } from './select.js';
export { openStatCache, noStatCache, statCachePath, type StatCache } from './stat-cache.js';
export {
  checksumSources,
  checksumSelection,
  diffManifests,
  describeEntryChange,
  type ChecksumManifest,
  type ChecksumOptions,
  type SourceChecksum,
} from './checksum.js';
export { copyFiles, resolveDest, type CopyOptions, type CopyResult } from './copy.js';
export { addFiles, classifyAddSources, type AddOptions } from './add.js';
export { download, isHttpSource, isGitSource, urlFileName, type Download, type DownloadOptions } from './http-source.js';
export { copyHeredocs, heredocDigest, type InlineSource, type HeredocCopyOptions } from './heredoc.js';
export { resolveChown, type Owner } from './chown.js';
export { parseChmod, type ModeFn } from './chmod.js';
export { detectArchive, extractArchive, sniffCompression, type Compression } from './archive.js';
