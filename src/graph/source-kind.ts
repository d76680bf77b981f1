/**
 * What kind of source an ADD or COPY names, by its text alone: the graph makes an http or git source op of it, the
 * file operations refuse or fetch it. One classification for both.
 */

/** True for `http://` and `https://` sources that are not git repositories. */
export function isHttpSource(src: string): boolean {
  return /^https?:\/\//i.test(src) && !isGitSource(src);
}

/** BuildKit's coarse git test: `git@…`, `git://…`, or an http(s) URL whose path ends in `.git` (optionally `#ref`). */
export function isGitSource(src: string): boolean {
  if (/^git@|^git:\/\//.test(src)) return true;
  const m = /^https?:\/\/[^#?]*\.git(?:[#?].*)?$/i.exec(src);
  return m !== null;
}
