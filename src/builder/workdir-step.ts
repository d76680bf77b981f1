/**
 * WORKDIR: besides setting the config's WorkingDir, BuildKit creates the directory (owned by the current USER)
 * so an image whose WORKDIR is never written to still has it. A directory that exists already leaves an empty
 * diff, which adds no layer.
 */
import { chown, mkdir, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import type { WorkdirInstruction } from '../parser/types.js';
import { resolveUser } from '../executor/user.js';
import type { BuildContext } from './build-context.js';
import { resolveInRoot } from './fileops/root-path.js';
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
        const target = resolveInRoot(dir, path);
        const existed = await stat(target).then(() => true, () => false);
        if (existed) return;
        // Create component by component so every new directory gets the user's ownership, as BuildKit's mkdir does.
        const owner = user ? await resolveUser(dir, user) : undefined;
        let cur = '/';
        for (const part of posix.normalize(path).split('/').filter(Boolean)) {
          cur = posix.join(cur, part);
          const host = resolveInRoot(dir, cur);
          if (await stat(host).then(() => true, () => false)) continue;
          await mkdir(host, { mode: 0o755 });
          if (owner) await chown(host, owner.uid, owner.gid);
        }
      });
    },
  });
}
