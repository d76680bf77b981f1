/**
 * Image references with Docker's normalisation rules (distribution/reference): `busybox` is
 * `docker.io/library/busybox:latest`, `127.0.0.1:5000/team/app:1.2` keeps its registry, `name@sha256:…` pins
 * a digest. The store keys tags by the full normalised string; the CLI shows the familiar form.
 */
import { KilnError } from '../errors.js';
import type { Digest } from './types.js';

const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';
const DEFAULT_TAG = 'latest';

/** A parsed, normalised reference. `tag` and `digest` may both be set (`name:tag@sha256:…`). */
export interface ImageReference {
  /** Registry host with optional port, e.g. `docker.io`, `127.0.0.1:5000`, `localhost`. */
  domain: string;
  /** Repository path inside the registry, e.g. `library/busybox`, `team/app`. */
  path: string;
  tag?: string;
  digest?: Digest;
}

// Grammar from distribution/reference (lower-case path components, separators `.`, `_`, `__`, `-+`).
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const PATH_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_RE = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const SHA256_RE = /^sha256:[a-f0-9]{64}$/;
const NAME_MAX = 255;

export interface ParseReferenceOptions {
  /** Add `:latest` when neither tag nor digest is given (default true). */
  defaultTag?: boolean;
}

function invalid(input: string, why: string): KilnError {
  return new KilnError('INVALID_REFERENCE', `invalid reference "${input}": ${why}`, {
    hint: 'references look like name[:tag][@sha256:digest], e.g. busybox, 127.0.0.1:5000/team/app:1.2',
  });
}

/** Splits `host[:port]/rest` the way Docker does: the first part is a registry only if it has `.`, `:` or is `localhost`. */
function splitDomain(name: string): { domain: string; path: string } {
  const i = name.indexOf('/');
  if (i === -1) return { domain: DEFAULT_DOMAIN, path: OFFICIAL_REPO_PREFIX + name };
  const first = name.slice(0, i);
  if (!first.includes('.') && !first.includes(':') && first !== 'localhost' && first.toLowerCase() === first) {
    return { domain: DEFAULT_DOMAIN, path: name };
  }
  let domain = first;
  let path = name.slice(i + 1);
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = OFFICIAL_REPO_PREFIX + path;
  return { domain, path };
}

/**
 * Parses and normalises a reference. Throws INVALID_REFERENCE naming the input: upper-case repository names,
 * bad tags, malformed digests, and 64-hex names (which Docker reserves for image IDs).
 */
export function parseReference(input: string, opts: ParseReferenceOptions = {}): ImageReference {
  const s = input.trim();
  if (s === '') throw invalid(input, 'empty reference');
  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (digest.startsWith('sha256:') && !SHA256_RE.test(digest)) throw invalid(input, `sha256 digest must be 64 lower-case hex digits`);
    if (!DIGEST_RE.test(digest)) throw invalid(input, `malformed digest "${digest}"`);
  }
  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > rest.lastIndexOf('/')) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG_RE.test(tag)) throw invalid(input, `invalid tag "${tag}"`);
  }
  if (rest === '') throw invalid(input, 'missing repository name');
  if (/^[a-f0-9]{64}$/.test(rest)) throw invalid(input, 'a 64-hex string is an image ID, not a repository name');
  const { domain, path } = splitDomain(rest);
  if (!DOMAIN_RE.test(domain)) throw invalid(input, `invalid registry "${domain}"`);
  if (path.toLowerCase() !== path) throw invalid(input, 'repository name must be lowercase');
  if (!PATH_RE.test(path)) throw invalid(input, `invalid repository name "${path}"`);
  if (domain.length + 1 + path.length > NAME_MAX) throw invalid(input, `repository name longer than ${NAME_MAX} characters`);
  if (tag === undefined && digest === undefined && opts.defaultTag !== false) tag = DEFAULT_TAG;
  const ref: ImageReference = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** `docker.io/library/busybox`: domain and path, no tag or digest. */
export function repositoryName(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The full normalised string: `docker.io/library/busybox:latest`, `host:5000/a/b@sha256:…`. */
export function formatReference(ref: ImageReference): string {
  let s = repositoryName(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** The repository as Docker displays it: `busybox`, `team/app`, `127.0.0.1:5000/team/app`. */
export function familiarName(ref: ImageReference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return repositoryName(ref);
  return ref.path.startsWith(OFFICIAL_REPO_PREFIX) && ref.path.split('/').length === 2 ? ref.path.slice(OFFICIAL_REPO_PREFIX.length) : ref.path;
}

/** `busybox:latest`, `127.0.0.1:5000/app@sha256:…`: the form a user types. */
export function familiarString(ref: ImageReference): string {
  let s = familiarName(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** Parse + format: the store's key for a user-typed reference (`busybox` → `docker.io/library/busybox:latest`). */
export function normalizeReference(input: string, opts: ParseReferenceOptions = {}): string {
  return formatReference(parseReference(input, opts));
}

/** Familiar form of a full normalised string; returns the input unchanged if it does not parse. */
export function familiarize(full: string): string {
  try {
    return familiarString(parseReference(full, { defaultTag: false }));
  } catch {
    return full;
  }
}
