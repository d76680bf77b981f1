/**
 * COPY and ADD: the builder's half. It picks the source root (the context, a stage's rootfs, an image), keys
 * the step by the sources' content checksum (H7's fileops, with the stat cache), and on a miss mounts the new
 * rootfs and lets fileops copy into it. `--from` a stage is keyed by the stage's identity first and, when that
 * misses, by the content it reads, so a rebuilt stage that produced the same files still hits.
 */
import type { AddInstruction, CopyInstruction } from '../parser/types.js';
import type { BuildContext } from './build-context.js';
import { lazyView, withMounted, type LazyView } from './rootfs.js';
import type { CopySpec } from './ports.js';
import { resolveImage } from './base-image.js';
import { ensureSnapshot, runStep } from './step-runner.js';
import type { StageState } from './state.js';
import type { StepRef } from './types.js';

function specOf(ctx: BuildContext, st: StageState, ins: CopyInstruction | AddInstruction, srcRoot: string, fromContext: boolean): CopySpec {
  return {
    srcRoot, fromContext, ignore: fromContext ? ctx.ignore : undefined,
    sources: ins.sources, heredocs: ins.heredocs, dest: ins.dest, workdir: st.cfg.image.config?.WorkingDir || '/',
    chown: ins.chown, chmod: ins.chmod, link: ins.link, parents: ins.parents, exclude: ins.exclude,
    add: ins.kind === 'ADD', checksum: ins.kind === 'ADD' ? ins.checksum : undefined, unpack: ins.kind === 'ADD' ? ins.unpack : undefined,
    sourceDateEpoch: ctx.sourceDateEpoch,
  };
}

/** Dispatches one expanded COPY or ADD on the stage. */
export async function copyInstruction(ctx: BuildContext, st: StageState, ins: CopyInstruction | AddInstruction, step: StepRef, stageKey: string, position: number): Promise<void> {
  const op = {
    kind: ins.kind, text: step.text, sources: ins.sources,
    heredocs: ins.heredocs.map((h) => ({ name: h.name, content: h.content, expand: h.expand })),
    dest: ins.dest, workdir: st.cfg.image.config?.WorkingDir || '/', chown: ins.chown ?? '', chmod: ins.chmod ?? '',
    link: ins.link, parents: ins.parents, exclude: ins.exclude,
    ...(ins.kind === 'ADD' ? { checksum: ins.checksum ?? '', unpack: ins.unpack ?? null, keepGitDir: ins.keepGitDir } : {}),
    from: ins.fromRef?.raw ?? '',
  };
  const history = `${ins.kind} ${[...ins.sources, ...ins.heredocs.map((h) => `<<${h.name}`)].join(' ')} ${ins.dest} # buildkit`;
  let view: LazyView | undefined;
  let inputs: Record<string, string> | undefined;
  let files: Record<string, string> | undefined;
  let contentInputs: (() => Promise<{ inputs: Record<string, string>; files?: Record<string, string> }>) | undefined;
  const ref = ins.fromRef;
  if (!ref) {
    const sum = await ctx.deps.fileops.checksum(specOf(ctx, st, ins, ctx.contextDir, true), { signal: ctx.signal });
    inputs = { sources: sum.digest };
    files = sum.files;
  } else {
    let identity: string;
    if (ref.kind === 'stage') {
      const src = await ctx.stage(ref.index);
      identity = `stage:${src.fs.chainId || 'empty'}`;
      view = lazyView(ctx, () => ensureSnapshot(ctx, src.fs));
    } else {
      const img = await resolveImage(ctx, ref.ref);
      identity = `image:${img.manifestDigest}`;
      view = lazyView(ctx, () => ctx.deps.snapshotter.ensureImage(img.manifest.layers.map((d, i) => ({ descriptor: d, diffId: img.config.rootfs.diff_ids[i]! })), { signal: ctx.signal }));
    }
    inputs = { from: identity };
    const v = view;
    contentInputs = async () => {
      const sum = await ctx.deps.fileops.checksum(specOf(ctx, st, ins, await v.dir(), false), { signal: ctx.signal });
      return { inputs: { sources: sum.digest }, files: sum.files };
    };
  }
  try {
    await runStep(ctx, st, {
      step, op, inputs, files, contentInputs, history, stageKey, position,
      async execute(rootfs, signal) {
        const srcRoot = view ? await view.dir() : ctx.contextDir;
        await withMounted(ctx, rootfs.mounts, (dest) => ctx.deps.fileops.copy(specOf(ctx, st, ins, srcRoot, !view), dest, { signal }));
      },
    });
  } finally {
    await view?.close();
  }
}
