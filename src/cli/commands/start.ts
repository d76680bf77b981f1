/**
 * `kiln start CONTAINER…` and `kiln restart [-t SECONDS] CONTAINER…`: run stopped containers again (detached, on
 * their own writable layer, log appended; `kiln logs -f` follows them), as `docker start` / `docker restart`.
 * Prints each name given; a container that fails to start is kept, and its error printed.
 */
import type { Command } from 'commander';
import { KilnError } from '../../errors.js';
import { globalOptions } from '../context.js';

type Action = 'start' | 'restart';

async function each(cmd: Command, refs: string[], action: Action, timeoutSec?: number): Promise<void> {
  const { root, io } = globalOptions(cmd);
  // A supervisor that died leaves a container marked running; start-up clean-up settles that first.
  await (await import('../../sandbox/cleanup.js')).cleanupStale(root);
  const { createContainerStore } = await import('../../containers/containers.js');
  const { restartContainer, startContainer } = await import('../../containers/lifecycle.js');
  const store = createContainerStore({ root });
  let failed: unknown;
  for (const ref of refs) {
    try {
      const rec = await store.get(ref);
      if (action === 'start') await startContainer(root, rec);
      else await restartContainer(root, rec, { timeoutSec });
      io.stdout.write(`${ref}\n`);
    } catch (err) {
      failed = err;
      io.stderr.write(`error: ${(err as Error).message}\n`);
    }
  }
  if (failed) throw failed;
}

export function register(program: Command): void {
  program
    .command('start')
    .description('start one or more stopped containers (detached)')
    .argument('<containers...>')
    .action((refs: string[], _opts: unknown, cmd: Command) => each(cmd, refs, 'start'));
  program
    .command('restart')
    .description('stop (if running) and start one or more containers')
    .argument('<containers...>')
    .option('-t, --time <seconds>', 'seconds to wait before killing the container', '10')
    .action((refs: string[], opts: { time: string }, cmd: Command) => {
      const timeoutSec = Number(opts.time);
      if (!Number.isFinite(timeoutSec) || timeoutSec < 0) throw new KilnError('INVALID_ARGUMENT', `invalid --time "${opts.time}"`);
      return each(cmd, refs, 'restart', timeoutSec);
    });
}
