/**
 * Builds one stage: resolves its base (scratch, an image, another stage), runs the base's ONBUILD triggers, then
 * dispatches each instruction in order after expanding it with the stage's scope. Filesystem instructions go
 * through the step runner (cache, execution, layers); metadata instructions update the config.
 */
import { KilnError, fromSystemError, isKilnError } from '../errors.js';
import { formatPlatform, normalizePlatform, parsePlatform } from '../image/platform.js';
import { instructionOp } from '../graph/instruction-op.js';
import { expandInstruction } from '../parser/expand-instruction.js';
import { parseDockerfile } from '../parser/parse-dockerfile.js';
import { createStageScope } from '../parser/scope.js';
import type { Stage, StageInstruction } from '../parser/types.js';
import { resolveImage } from './base-image.js';
import { chainId } from '../graph/cache-key.js';
import { clock, since } from '../cache/profile.js';
import type { BuildContext } from './build-context.js';
import { copyInstruction } from './copy-step.js';
import { applyMetadata, baseConfigState, onbuildTriggers, resolveWorkdir } from '../graph/image-config.js';
import { runInstruction } from './run-step.js';
import { cloneStage, compressionOf, type StageState } from './state.js';
import type { StepRef } from './types.js';
import { workdirStep } from './workdir-step.js';

const FS_KINDS = new Set(['RUN', 'COPY', 'ADD', 'WORKDIR']);

/** The name a stage shows in progress: its AS name, `stage-N`, or '' for an unnamed final stage (buildx's `[2/3]`). */
function stageLabel(ctx: BuildContext, stage: Stage): string {
  const own = stage.name ?? (stage.index === ctx.df.targetIndex ? '' : `stage-${stage.index}`);
  return ctx.part ? `${ctx.part.label}${own ? ` ${own}` : ''}` : own;
}

/** Parses ONBUILD trigger texts into instructions (they were validated when the base image was built). */
function parseTriggers(triggers: string[], file: string): StageInstruction[] {
  if (triggers.length === 0) return [];
  const df = parseDockerfile(`FROM scratch\n${triggers.join('\n')}\n`, { file: `${file} (ONBUILD)` });
  return df.stages[0]!.instructions;
}

/** Builds stage `index`; resolves to its final state. */
export async function runStage(ctx: BuildContext, index: number): Promise<StageState> {
  const stage = ctx.df.stages[index]!;
  const label = stageLabel(ctx, stage);
  const stageKey = `${index}:${stage.name ?? ''}`;
  const platform = stage.platform ? formatPlatform(normalizePlatform(parsePlatform(stage.platform))) : ctx.platform;
  const fromStep: StepRef = {
    id: ctx.nextStepId(),
    stage: label,
    index: 1,
    total: 1 + stage.instructions.filter((i) => FS_KINDS.has(i.kind)).length,
    text: stage.from.original.replace(/\s+/g, ' ').trim(),
    loc: { file: stage.from.loc.file, line: stage.from.loc.line },
  };
  const started = Date.now();
  ctx.emit({ type: 'step-start', step: fromStep });
  let st: StageState;
  /** The base image's ID (its config digest), the FROM step's result. */
  let baseId: string | undefined;
  try {
    if (stage.base.kind === 'stage') {
      st = cloneStage(await ctx.stage(stage.base.index));
      // A stage on another stage builds for that stage's platform unless it names its own (as BuildKit).
      if (stage.platform || !st.platform) st.platform = platform;
    } else {
      const img = stage.base.kind === 'image' ? await resolveImage(ctx, stage.base.ref, platform) : undefined;
      baseId = img?.id;
      const p = parsePlatform(platform);
      const cfg = baseConfigState(img?.config, { os: p.os, architecture: p.architecture, variant: p.variant });
      const scope = createStageScope({
        globalArgs: ctx.df.globalArgs ?? {},
        buildArgs: ctx.opts.buildArgs,
        baseEnv: img?.config.config?.Env ?? [],
        escape: ctx.df.directives.escape,
      });
      const layers = (img?.manifest.layers ?? []).map((d, i) => ({ diffId: img!.config.rootfs.diff_ids[i]!, blobs: { [compressionOf(d.mediaType)]: d } }));
      st = {
        fs: {
          layers,
          chainId: chainId(layers.map((l) => l.diffId)),
          desc: img ? `FROM ${stage.base.kind === 'image' ? stage.base.ref : ''}@${img.manifestDigest}` : 'FROM scratch',
        },
        cfg,
        scope,
        baseConfig: img?.config,
        keys: [],
        platform,
      };
      st.lastCreated = img?.config.created;
    }
  } catch (err) {
    if (isKilnError(err)) err.at(fromStep.loc!);
    ctx.emit({ type: 'step-error', step: fromStep, message: isKilnError(err) ? err.message : String(err) });
    throw err;
  }
  ctx.emit({ type: 'step-done', step: fromStep, durationMs: Date.now() - started, result: baseId });

  const triggers = parseTriggers(onbuildTriggers(st.baseConfig), ctx.dockerfileId);
  const all = [...triggers, ...stage.instructions];
  const total = 1 + all.filter((i) => FS_KINDS.has(i.kind)).length;
  fromStep.total = total;
  let fsIndex = 1;
  for (const [position, raw] of all.entries()) {
    ctx.signal.throwIfAborted();
    const loc = { file: raw.loc.file, line: raw.loc.line };
    let step: StepRef | undefined;
    try {
      const tExpand = clock();
      const ins = expandInstruction(raw, st.scope);
      since('instruction.expand', tExpand, raw.original);
      if (FS_KINDS.has(ins.kind)) {
        step = { id: ctx.nextStepId(), stage: label, index: ++fsIndex, total, text: ins.original.replace(/\s*\\\n\s*/g, ' ').trim(), loc };
      }
      if (ins.kind === 'WORKDIR') {
        st.cfg.image.config = { ...(st.cfg.image.config ?? {}), WorkingDir: resolveWorkdir(st.cfg.image.config?.WorkingDir, ins.path) };
      }
      // Each filesystem step gets the graph's op for its instruction (the function buildGraph() uses): it is
      // keyed by that op's definition and executes what it says.
      const meta = { text: step?.text ?? '', loc, stage: label || `stage-${index}` };
      switch (ins.kind) {
        case 'RUN':
          await runInstruction(ctx, st, ins, { ...instructionOp(ins, st, ctx.opts), meta }, step!, stageKey, position);
          break;
        case 'COPY':
        case 'ADD':
          await copyInstruction(ctx, st, ins, { ...instructionOp(ins, st, ctx.opts), meta }, step!, stageKey, position);
          break;
        case 'WORKDIR':
          await workdirStep(ctx, st, { ...instructionOp(ins, st, ctx.opts), meta }, step!, stageKey, position);
          break;
        default: {
          const t = clock();
          st.scope.dispatch(ins);
          const entry = applyMetadata(st.cfg, ins, ctx.sourceDateEpoch !== undefined ? ctx.created : st.lastCreated);
          if (entry) (st.cfg.image.history ??= []).push(entry);
          since('metadata.apply', t, ins.original);
        }
      }
      if (step) st.lastCreated = ctx.sourceDateEpoch !== undefined ? ctx.created : (st.cfg.image.history?.at(-1)?.created ?? st.lastCreated);
    } catch (err) {
      // A system error is a real failure of this step, named by it, even when another stage's failure has aborted
      // the build meanwhile: the first real error wins, "cancelled" is only for a step stopped by the abort.
      const sys = isKilnError(err)
        ? undefined
        : fromSystemError(err, step ? `step ${step.index}/${step.total} (${truncate(step.text)})` : truncate(raw.original));
      const e = isKilnError(err) ? err.at(loc) : sys ? sys.at(loc) : ctx.signal.aborted ? new KilnError('CANCELLED', 'build cancelled', { cause: err }) : err;
      if (step && !(isKilnError(e) && e.code === 'CANCELLED')) {
        ctx.emit({
          type: 'step-error',
          step,
          message: isKilnError(e) ? e.message : String(e),
          exitCode: isKilnError(e) ? (e.details?.exitCode as number | undefined) : undefined,
        });
      }
      throw e;
    }
  }
  return st;
}

/** An instruction's text cut for an error line. */
function truncate(text: string): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > 80 ? `${one.slice(0, 80)}…` : one;
}
