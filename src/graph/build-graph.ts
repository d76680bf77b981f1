/**
 * Parse → instructions → graph: the op graph of a parsed Dockerfile for its target and a platform, without
 * building anything. Each stage the target needs becomes a source (scratch, image, another stage's result), then
 * one op per instruction, expanded with the stage's scope as the builder expands it: exec ops for RUN, file ops
 * for COPY/ADD and WORKDIR's mkdir, metadata ops for config changes. The context and ADD URLs are source ops
 * too; which bytes they hold (and which manifest an image reference resolves to) are inputs of the solve.
 *
 * A base image's config (its ENV, USER, WORKDIR, SHELL, ONBUILD) shapes the ops after FROM; pass `imageConfig`
 * to read it (from the local store, say). Without it the image is taken as empty and its source op says so.
 */
import { isGitSource } from './source-kind.js';
import { isKilnError } from '../errors.js';
import { formatPlatform, parsePlatform } from '../image/platform.js';
import type { ImageConfig } from '../image/types.js';
import { applyMetadata, baseConfigState, onbuildTriggers, resolveWorkdir, type ConfigState } from './image-config.js';
import { expandInstruction } from '../parser/expand-instruction.js';
import { parseDockerfile } from '../parser/parse-dockerfile.js';
import { createStageScope, type StageScope } from '../parser/scope.js';
import type { ParsedDockerfile, Stage, StageInstruction, StageOrImageRef } from '../parser/types.js';
import { instructionOp, isFsInstruction, type InstructionOpOptions } from './instruction-op.js';
import { opDigest } from './keys.js';
import { displayText, metaDef } from './ops.js';
import type { Graph, GraphStage, Op, OpMeta, SourceDef } from './types.js';

export interface BuildGraphOptions extends InstructionOpOptions {
  /** `os/arch[/variant]` the build targets (the keys' platform). */
  platform: string;
  /** The config of an image reference for a platform, when it can be read; undefined: unknown. */
  imageConfig?: (ref: string, platform: string) => ImageConfig | undefined;
}

interface StageEnd {
  result: string;
  cfg: ConfigState;
  scope: StageScope;
}

/** Parses ONBUILD trigger texts as the stage runner does (they were validated when the base was built). */
function parseTriggers(triggers: string[], file: string): StageInstruction[] {
  if (triggers.length === 0) return [];
  return parseDockerfile(`FROM scratch\n${triggers.join('\n')}\n`, { file: `${file} (ONBUILD)` }).stages[0]!.instructions;
}

/** The op graph of `df`'s target (df was parsed with the target, build args and platform of the build). */
export function buildGraph(df: ParsedDockerfile, opts: BuildGraphOptions): Graph {
  const ops: Op[] = [];
  const byId = new Map<string, Op>();
  const ends = new Map<number, StageEnd>();
  const shared = new Map<string, string>();
  const stages: GraphStage[] = [];

  const add = <O extends Op>(op: Omit<O, 'digest'>): O => {
    const full = {
      ...op,
      digest: opDigest(
        op as O,
        op.inputs.map((i) => byId.get(i)!.digest),
        opts.platform,
      ),
    } as O;
    ops.push(full);
    byId.set(full.id, full);
    return full;
  };
  /**
   * One source op per distinct source (the context, an image for a platform, a URL), shared by every reader, so
   * it belongs to no stage.
   */
  const source = (def: SourceDef): string => {
    const k = JSON.stringify(def);
    let id = shared.get(k);
    if (!id) {
      id = `src.${shared.size}`;
      shared.set(k, id);
      const text = def.type === 'context' ? 'build context' : def.type === 'http' || def.type === 'git' ? def.url : def.type === 'image' ? def.ref : def.type;
      const note = def.type === 'git' ? 'ADD from a git repository is not supported yet: solving it fails' : undefined;
      add({ id, kind: 'source', def, inputs: [], meta: { text, stage: '', ...(note ? { note } : {}) } });
    }
    return id;
  };
  const refInput = (ref: StageOrImageRef): string =>
    ref.kind === 'stage' ? ends.get(ref.index)!.result : source({ type: 'image', ref: ref.ref, platform: opts.platform });

  for (const index of df.requiredStages) {
    const stage = df.stages[index]!;
    const label = stage.name ?? `stage-${index}`;
    const platform = stage.platform ? formatPlatform(parsePlatform(stage.platform)) : opts.platform;
    const fromMeta: OpMeta = { text: displayText(stage.from.original), loc: { file: stage.from.loc.file, line: stage.from.loc.line }, stage: label };
    let n = 0;
    const nextId = () => `s${index}.${n++}`;
    let cfg: ConfigState;
    let scope: StageScope;
    let triggerSource: ImageConfig | undefined;
    let base: string;
    if (stage.base.kind === 'stage') {
      const from = ends.get(stage.base.index)!;
      base = add({ id: nextId(), kind: 'source', def: { type: 'stage' }, inputs: [from.result], meta: fromMeta }).id;
      const image = structuredClone(from.cfg.image);
      triggerSource = from.cfg.image;
      if (image.config) image.config.OnBuild = null;
      cfg = { image, cmdSet: false };
      scope = from.scope.child();
    } else {
      const img = stage.base.kind === 'image' ? baseImage(stage, platform, opts) : undefined;
      const def: SourceDef = stage.base.kind === 'image' ? { type: 'image', ref: stage.base.ref, platform } : { type: 'scratch' };
      const meta = img?.unread ? { ...fromMeta, note: 'image config not read: its ENV, USER, WORKDIR, SHELL and ONBUILD are not applied' } : fromMeta;
      base = add({ id: nextId(), kind: 'source', def, inputs: [], meta }).id;
      const p = parsePlatform(platform);
      cfg = baseConfigState(img?.config, { os: p.os, architecture: p.architecture, variant: p.variant });
      scope = createStageScope({
        globalArgs: df.globalArgs ?? {},
        buildArgs: df.buildArgs,
        baseEnv: img?.config?.config?.Env ?? [],
        escape: df.directives.escape,
      });
      triggerSource = img?.config;
    }
    const stageOps = [base];
    let fs = base;
    const all = [...parseTriggers(onbuildTriggers(triggerSource), df.file), ...stage.instructions];
    for (const raw of all) {
      const ins = expandInstruction(raw, scope);
      const meta: OpMeta = { text: displayText(ins.original), loc: { file: raw.loc.file, line: raw.loc.line }, stage: label };
      try {
        if (isFsInstruction(ins)) {
          if (ins.kind === 'WORKDIR') {
            cfg.image.config = { ...(cfg.image.config ?? {}), WorkingDir: resolveWorkdir(cfg.image.config?.WorkingDir, ins.path) };
          }
          const { kind, def } = instructionOp(ins, { cfg, scope }, opts);
          const inputs = [fs];
          if (ins.kind === 'RUN') {
            for (const m of ins.mounts) {
              if (m.type === 'bind') inputs.push(m.from ? refInput(m.from) : source({ type: 'context' }));
              else if (m.type === 'cache' && m.from) inputs.push(refInput(m.from));
            }
          } else if (ins.kind === 'COPY' || ins.kind === 'ADD') {
            // As fileops reads them: ADD's URLs and git repositories are sources of their own (COPY has none).
            const remote = (s: string) => ins.kind === 'ADD' && (/^https?:\/\//i.test(s) || isGitSource(s));
            if (ins.fromRef) inputs.push(refInput(ins.fromRef));
            else if (ins.sources.some((s) => !remote(s))) inputs.push(source({ type: 'context' }));
            for (const url of ins.sources.filter(remote)) {
              inputs.push(
                source(
                  isGitSource(url) ? { type: 'git', url } : { type: 'http', url, ...(ins.kind === 'ADD' && ins.checksum ? { checksum: ins.checksum } : {}) },
                ),
              );
            }
          }
          fs = add({ id: nextId(), kind, def, inputs, meta } as Omit<Op, 'digest'>).id;
          stageOps.push(fs);
        } else {
          scope.dispatch(ins);
          applyMetadata(cfg, ins, undefined);
          stageOps.push(add({ id: nextId(), kind: 'meta', def: metaDef(ins), inputs: [fs], meta }).id);
        }
      } catch (err) {
        if (isKilnError(err)) throw err.at({ file: raw.loc.file, line: raw.loc.line });
        throw err;
      }
    }
    ends.set(index, { result: fs, cfg, scope });
    stages.push({ index, ...(stage.name ? { name: stage.name } : {}), platform, base, ops: stageOps, result: fs });
  }
  return { version: 1, platform: opts.platform, target: df.targetIndex, stages, ops };
}

function baseImage(stage: Stage, platform: string, opts: BuildGraphOptions): { config?: ImageConfig; unread: boolean } {
  if (stage.base.kind !== 'image') return { unread: false };
  const config = opts.imageConfig?.(stage.base.ref, platform);
  return { config, unread: config === undefined };
}
