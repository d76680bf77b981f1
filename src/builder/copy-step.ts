/**
 * COPY and ADD: the builder's half. It picks the source root (the context, a stage's rootfs, an image), keys
 * the step by the sources' content checksum (fileops, with the stat cache), and on a miss mounts the new
 * rootfs and lets fileops copy into it. `--from` a stage is keyed by the stage's identity first and, when that
 * misses, by the content it reads, so a rebuilt stage that produced the same files still hits.
 */
import type { StepInputs } from '../cache/build-cache.js';
import { keyedOp } from '../graph/keys.js';
import type { FileOp } from '../graph/types.js';
import { canonicalJson } from '../image/canonical-json.js';
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
    srcRoot,
    fromContext,
    ignore: fromContext ? ctx.ignore : undefined,
    sources: ins.sources,
    heredocs: ins.heredocs,
    dest: ins.dest,
    workdir: st.cfg.image.config?.WorkingDir || '/',
    chown: ins.chown,
    chmod: ins.chmod,
    link: ins.link,
    parents: ins.parents,
    exclude: ins.exclude,
    add: ins.kind === 'ADD',
    checksum: ins.kind === 'ADD' ? ins.checksum : undefined,
    unpack: ins.kind === 'ADD' ? ins.unpack : undefined,
    sourceDateEpoch: ctx.sourceDateEpoch,
  };
}

/**
 * Incremental COPY: when the closest earlier record of this step is the same instruction on the same parent
 * and the sources only changed or gained files (none removed), its snapshot is cloned into the new upper dir
 * with hard links and only the changed paths are copied. A 5,000-file context with one edit then writes one
 * file instead of all of them. Returns the paths to copy, or undefined to copy everything.
 */
async function incrementalBase(
  ctx: BuildContext,
  st: StageState,
  op: Pick<FileOp, 'kind' | 'def'>,
  files: Record<string, string> | undefined,
  previous: { key: string; inputs: StepInputs } | undefined,
  activeKey: string,
): Promise<Set<string> | undefined> {
  const before = previous?.inputs;
  if (!before?.files || !files || before.parent !== st.fs.chainId) return undefined;
  // The same definition (the record's op also carries its text, which only explanations read).
  if (canonicalJson({ ...before.op, text: undefined }) !== canonicalJson(keyedOp(op))) return undefined;
  const changed = new Set<string>();
  for (const [p, d] of Object.entries(files)) if (before.files[p] !== d) changed.add(p);
  const removed = Object.keys(before.files).some((p) => !(p in files));
  if (removed || changed.size === 0 || changed.size > Object.keys(files).length / 2) return undefined;
  const rec = await ctx.cache.get(previous!.key);
  if (!rec?.result.layer || !rec.result.snapshot) return undefined;
  const snap = ctx.deps.snapshotter;
  const [old, active] = await Promise.all([snap.stat(rec.result.snapshot), snap.stat(activeKey)]);
  if (old?.kind !== 'committed' || !active) return undefined;
  const { cloneTree } = await import('./clone-tree.js');
  cloneTree(old.dir, active.dir);
  return changed;
}

/**
 * Dispatches one expanded COPY or ADD on the stage. `op` is the graph's file op for it (instructionOp()); the
 * sources' content (or the `--from` stage's identity) is what the step reads beyond it.
 */
export async function copyInstruction(
  ctx: BuildContext,
  st: StageState,
  ins: CopyInstruction | AddInstruction,
  op: Pick<FileOp, 'kind' | 'def' | 'meta'>,
  step: StepRef,
  stageKey: string,
  position: number,
): Promise<void> {
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
      view = lazyView(ctx, () =>
        ctx.deps.snapshotter.ensureImage(
          img.manifest.layers.map((d, i) => ({ descriptor: d, diffId: img.config.rootfs.diff_ids[i]! })),
          { signal: ctx.signal },
        ),
      );
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
      step,
      op,
      inputs,
      files,
      contentInputs,
      history,
      stageKey,
      position,
      independent: ins.link,
      async execute(rootfs, signal, previous) {
        const srcRoot = view ? await view.dir() : ctx.contextDir;
        if (ins.link) {
          // --link: copy into the empty upper dir itself (the layer holds just these files, no base symlink is
          // followed); `--chown` names still come from the base's /etc/passwd, read through a view of it.
          const upper = (await ctx.deps.snapshotter.stat(rootfs.activeKey))!.dir;
          const base = ins.chown && !/^\d+(:\d+)?$/.test(ins.chown) ? lazyView(ctx, () => ensureSnapshot(ctx, st.fs)) : undefined;
          try {
            await ctx.deps.fileops.copy(specOf(ctx, st, ins, srcRoot, !view), upper, { signal, passwdRoot: base ? await base.dir() : undefined });
          } finally {
            await base?.close();
          }
          return;
        }
        const only = view || ins.kind !== 'COPY' || ins.heredocs.length ? undefined : await incrementalBase(ctx, st, op, files, previous, rootfs.activeKey);
        await withMounted(ctx, rootfs.mounts, (dest) => ctx.deps.fileops.copy(specOf(ctx, st, ins, srcRoot, !view), dest, { signal, only }));
      },
    });
  } finally {
    await view?.close();
  }
}
