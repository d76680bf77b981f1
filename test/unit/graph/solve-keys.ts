/**
 * Test helper: the cache key of every filesystem op of a Dockerfile's graph, computed the way the builder's step
 * runner does (graph/keys.ts stepKey over the op's definition, the rootfs it starts from, the content it reads,
 * the platform), without running anything. A step's result stands in as a digest of its key (a real step's
 * rootfs ChainID depends on the bytes it writes); an image's rootfs as a digest of its reference. Context sources
 * are checksummed by fileops' real checksum, as the builder's fileops port does, so content and modes count.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { checksumSources } from '../../../src/builder/fileops/checksum.js';
import { buildGraph } from '../../../src/graph/build-graph.js';
import { stepKey } from '../../../src/graph/keys.js';
import type { CopyDef, FsOp, Graph, Op } from '../../../src/graph/types.js';
import { parseDockerfile, parsePlatform } from '../../../src/parser/index.js';

export interface StepKey {
  /** `stage-or-name: INSTRUCTION` as shown. */
  step: string;
  key: string;
  digest: string;
}

export type ContextFiles = Record<string, string | { content: string; mode: number }>;

const PLATFORM = 'linux/amd64';
const sha = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;

/** Writes `files` into a new temp dir (under `parent` if given) and returns it. */
export async function writeContext(files: ContextFiles, parent = tmpdir()): Promise<string> {
  const dir = await mkdtemp(join(parent, 'kiln-graph-ctx-'));
  for (const [p, f] of Object.entries(files)) {
    await mkdir(dirname(join(dir, p)), { recursive: true });
    await writeFile(join(dir, p), typeof f === 'string' ? f : f.content);
    await chmod(join(dir, p), typeof f === 'string' ? 0o644 : f.mode);
  }
  return dir;
}

export function graphOf(dockerfile: string, opts: { buildArgs?: Record<string, string>; target?: string; extraHosts?: string[] } = {}): Graph {
  const df = parseDockerfile(dockerfile, {
    file: 'Dockerfile',
    buildArgs: opts.buildArgs,
    target: opts.target,
    platform: parsePlatform(PLATFORM),
    buildPlatform: parsePlatform(PLATFORM),
  });
  return buildGraph(df, { platform: PLATFORM, extraHosts: opts.extraHosts });
}

/** The step keys of the target's filesystem ops, in build order. */
export async function stepKeys(dockerfile: string, contextDir: string, opts: Parameters<typeof graphOf>[1] = {}): Promise<StepKey[]> {
  const g = graphOf(dockerfile, opts);
  const byId = new Map<string, Op>(g.ops.map((o) => [o.id, o]));
  const rootfs = new Map<string, string>();
  const out: StepKey[] = [];
  for (const stage of g.stages) {
    for (const id of stage.ops) {
      const op = byId.get(id)!;
      if (op.kind === 'source') {
        rootfs.set(id, op.def.type === 'image' ? sha(`image ${op.def.ref}`) : op.def.type === 'stage' ? rootfs.get(op.inputs[0]!)! : '');
        continue;
      }
      if (op.kind === 'meta') continue;
      const parent = rootfs.get(op.inputs[0]!)!;
      const inputs = await contentInputs(op, contextDir, rootfs, byId);
      const key = stepKey(op, op.kind === 'file' && op.def.action !== 'mkdir' && op.def.link ? '' : parent, inputs, PLATFORM);
      rootfs.set(id, sha(`result ${key}`));
      out.push({ step: `${op.meta.stage}: ${op.meta.text}`, key, digest: op.digest });
    }
  }
  return out;
}

async function contentInputs(op: FsOp, contextDir: string, rootfs: Map<string, string>, byId: Map<string, Op>): Promise<Record<string, string> | undefined> {
  if (op.kind === 'exec') {
    const inputs: Record<string, string> = {};
    for (const [i, m] of op.def.mounts.entries()) {
      if (m.type === 'bind' && !m.from) inputs[`mount${i}`] = (await checksumSources(contextDir, [m.source], { ownership: 'reset' })).digest;
    }
    return Object.keys(inputs).length ? inputs : undefined;
  }
  if (op.def.action === 'mkdir') return undefined;
  const def: CopyDef = op.def;
  if (def.from === 'context') {
    if (def.sources.length === 0) return undefined;
    return { sources: (await checksumSources(contextDir, def.sources, { ownership: 'reset', exclude: def.exclude, parents: def.parents })).digest };
  }
  const from = byId.get(op.inputs[1]!)!;
  return { from: from.kind === 'source' && from.def.type === 'image' ? `image:${from.def.ref}` : `stage:${rootfs.get(from.id)}` };
}
