/**
 * WORKDIR: besides setting the config's WorkingDir, BuildKit creates the directory (owned by the current USER)
 * so an image whose WORKDIR is never written to still has it. A directory that exists already leaves an empty
 * diff, which adds no layer.
 */
import { chown } from 'node:fs/promises';
import type { WorkdirInstruction } from '../parser/types.js';
import { resolveUser } from '../executor/user.js';
import type { BuildContext } from './build-context.js';
import { mkdirInRoot, resolveInRoot } from '../paths/in-root.js';
import { withMounted } from './rootfs.js';
import { runStep } from './step-runner.js';
import type { StageState } from './state.js';
import type { StepRef } from './types.js';

/** Creates the (already resolved) working directory `path` in the stage's rootfs. */
export async function workdirStep(ctx: BuildContext, st: StageState, ins: WorkdirInstruction, path: string, step: StepRef, stageKey: string, position: number): Promise<void> {
  const user = st.cfg.image.config?.User ?? '';
  await runStep(ctx, st, {
    step, stageKey, position,
    op: { kind: 'WORKDIR', text: ins.original, path, user },
    history: `WORKDIR ${path}`,
    async execute(rootfs) {
      await withMounted(ctx, rootfs.mounts, async (dir) => {
        // One walk, linear in the components, bounded by PATH_MAX, cancellable; symlinks are followed inside the
        // rootfs and their missing targets created there (`WORKDIR /link/new`), as BuildKit's mkdir does.
        const what = `WORKDIR ${path.length > 200 ? `${path.slice(0, 200)}…` : path}`;
        const found = await resolveInRoot(dir, path, { signal: ctx.signal, what });
        if (found.stat?.isDirectory()) return;
        // Create component by component so every new directory gets the user's ownership, as BuildKit's mkdir does.
        const owner = user ? await resolveUser(dir, user) : undefined;
        await mkdirInRoot(dir, path, {
          signal: ctx.signal,
          what,
          onCreate: owner ? (host) => chown(host, owner.uid, owner.gid) : undefined,
        });
      });
    },
  });
}
