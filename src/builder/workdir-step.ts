/**
 * WORKDIR: besides setting the config's WorkingDir, BuildKit creates the directory (owned by the current USER)
 * so an image whose WORKDIR is never written to still has it. A directory that exists already leaves an empty
 * diff, which adds no layer. The owner follows BuildKit's file-op rules (its mkdir takes llb.WithUser(USER)),
 * not RUN's: `USER 9999` without a passwd entry (or a group) makes the directories 9999:9999.
 */
import { chown } from 'node:fs/promises';
import type { FileOp, MkdirDef } from '../graph/types.js';
import type { BuildContext } from './build-context.js';
import { resolveChown } from './fileops/chown.js';
import { mkdirInRoot, resolveInRoot } from '../paths/in-root.js';
import { withMounted } from './rootfs.js';
import { runStep } from './step-runner.js';
import type { StageState } from './state.js';
import type { StepRef } from './types.js';

/**
 * Creates the (already resolved) working directory in the stage's rootfs: `op` is the graph's mkdir op for it
 * (instructionOp()), its path and the USER that owns what it creates.
 */
export async function workdirStep(
  ctx: BuildContext,
  st: StageState,
  op: Pick<FileOp, 'kind' | 'def' | 'meta'> & { def: MkdirDef },
  step: StepRef,
  stageKey: string,
  position: number,
): Promise<void> {
  const { path, user } = op.def;
  await runStep(ctx, st, {
    step,
    stageKey,
    position,
    op,
    history: `WORKDIR ${path}`,
    async execute(rootfs) {
      await withMounted(ctx, rootfs.mounts, async (dir) => {
        // One walk, linear in the components, bounded by PATH_MAX, cancellable; symlinks are followed inside the
        // rootfs and their missing targets created there (`WORKDIR /link/new`), as BuildKit's mkdir does.
        const what = `WORKDIR ${path.length > 200 ? `${path.slice(0, 200)}…` : path}`;
        const found = await resolveInRoot(dir, path, { signal: ctx.signal, what });
        if (found.stat?.isDirectory()) return;
        // Create component by component so every new directory gets the user's ownership, as BuildKit's mkdir does.
        const owner = user ? resolveChown(user, dir, 'USER') : undefined;
        await mkdirInRoot(dir, path, {
          signal: ctx.signal,
          what,
          onCreate: owner ? (host) => chown(host, owner.uid, owner.gid) : undefined,
        });
      });
    },
  });
}
