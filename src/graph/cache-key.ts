/**
 * The ONE place that defines a build step's cache key (BuildKit's solver digest): sha256 over the canonical JSON
 * of the normalized op, the identity of the filesystem it runs on, and the content digest of the files it reads.
 * Display-only facts (line numbers, the Dockerfile's name, progress labels) stay out, so moving a line or renaming
 * a stage keeps the cache; mtimes never enter (COPY sources are digested by content and metadata by fileops).
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../image/canonical-json.js';
import type { Digest } from '../image/types.js';

/**
 * Variables that must not change a key: Docker's predefined proxy args. A build behind a proxy and one without
 * produce the same files, and BuildKit keeps them out of the cache key and the history for the same reason
 * (they often embed credentials, which must never land in a key or a record either).
 */
export const PROXY_VARS = new Set([
  'HTTP_PROXY',
  'http_proxy',
  'HTTPS_PROXY',
  'https_proxy',
  'FTP_PROXY',
  'ftp_proxy',
  'NO_PROXY',
  'no_proxy',
  'ALL_PROXY',
  'all_proxy',
]);

/** What a step's key is made of. `op` is plain JSON data: strings, numbers, booleans, arrays, objects. */
export interface CacheKeyInput {
  /** The normalized op: the graph op's kind and definition (graph/keys.ts keyedOp), never its display meta. */
  op: Record<string, unknown>;
  /** Identity of the rootfs the step starts from (a chain ID; '' for an empty rootfs). */
  parent: string;
  /** Content digests of the step's other inputs (COPY sources, `--from` stages, bind mounts), by name. */
  inputs?: Record<string, string>;
  /** `os/arch[/variant]`. */
  platform: string;
}

/** Removes proxy variables from a `KEY=value` list (see PROXY_VARS for why). */
export function stripProxyEnv(env: string[]): string[] {
  return env.filter((kv) => !PROXY_VARS.has(kv.slice(0, kv.indexOf('=') < 0 ? kv.length : kv.indexOf('='))));
}

/** The normalized op as it enters the key: `env` lists lose proxy variables. Exported so explain compares alike. */
export function normalizeOp(op: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...op };
  if (Array.isArray(out.env)) out.env = stripProxyEnv(out.env as string[]);
  return out;
}

/** The cache key of a step: `sha256:<hex>`. Same inputs, same key, on any root and in any process. */
export function cacheKey(input: CacheKeyInput): Digest {
  const doc = {
    // 2: ops are the graph's definitions (no instruction text, stage names or host addresses).
    v: 2,
    op: normalizeOp(input.op),
    parent: input.parent,
    inputs: input.inputs ?? {},
    platform: input.platform,
  };
  return `sha256:${createHash('sha256').update(canonicalJson(doc)).digest('hex')}`;
}

/** OCI ChainID of a list of diffIDs: the identity of a layer stack ('' for none). */
export function chainId(diffIds: readonly Digest[]): string {
  let chain = '';
  for (const d of diffIds) {
    chain = chain === '' ? d : `sha256:${createHash('sha256').update(`${chain} ${d}`).digest('hex')}`;
  }
  return chain;
}
