/**
 * Digests of the graph and the cache keys of its filesystem ops. Both are computed from an op's `def` only:
 * `meta` (text, location, stage name) and `id` never enter, so comments, blank lines, line numbers, stage
 * names and the spacing of an instruction's words leave every digest and key unchanged.
 *
 * - An op's digest (in the graph): sha256 over canonical JSON of `{ kind, def, inputs: [input digests], platform }`.
 * - A step's cache key (while solving): cacheKey() over `{ kind, ...def }`, the rootfs it starts from (its
 *   ChainID: the content identity of the input, so a re-run that produced the same bytes lets later steps hit),
 *   the content checksums it reads (COPY sources, bind mounts, `--from` stages' identities) and the platform.
 */
import { createHash } from 'node:crypto';
import { cacheKey } from './cache-key.js';
import { canonicalJson } from '../image/canonical-json.js';
import type { Digest } from '../image/types.js';
import type { FsOp, Op } from './types.js';

/** The op as it enters a cache key: its kind and definition, flat (what explainMiss() compares field by field). */
export function keyedOp(op: Pick<FsOp, 'kind' | 'def'>): Record<string, unknown> {
  return { kind: op.kind, ...op.def };
}

/** The digest of an op in its graph, from its definition and its inputs' digests. */
export function opDigest(op: Pick<Op, 'kind' | 'def'>, inputDigests: readonly string[], platform: string): Digest {
  const doc = { v: 1, kind: op.kind, def: op.def, inputs: inputDigests, platform };
  return `sha256:${createHash('sha256').update(canonicalJson(doc)).digest('hex')}`;
}

/** The cache key of a filesystem op when solved on rootfs `parent` with content `inputs`. */
export function stepKey(op: Pick<FsOp, 'kind' | 'def'>, parent: string, inputs: Record<string, string> | undefined, platform: string): Digest {
  return cacheKey({ op: keyedOp(op), parent, inputs, platform });
}
