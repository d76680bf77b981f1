/** `kiln stop [-t SECONDS] CONTAINER…`: SIGTERM, then SIGKILL after the grace period; prints each name given. */
import type { Command } from 'commander';
import { KilnError } from '../../errors.js';
import { globalOptions } from '../context.js';

export function register(program: Command): void {
  program
    .command('stop')
    .description('stop one or more running containers')
    .argument('<containers...>')
    .option('-t, --time <seconds>', 'seconds to wait before killing the container', '10')
    .option('-s, --signal <signal>', "signal to send first (default: the image's STOPSIGNAL, else SIGTERM)")
    .action(async (refs: string[], opts: { time: string; signal?: string }, cmd: Command) => {
      const root = globalOptions(cmd).root;
      // A supervisor that died leaves a container marked running; start-up clean-up settles that first.
      await (await import('../../sandbox/cleanup.js')).cleanupStale(root);
      const timeoutSec = Number(opts.time);
      if (!Number.isFinite(timeoutSec) || timeoutSec < 0) throw new KilnError('INVALID_ARGUMENT', `invalid --time "${opts.time}"`);
      const { createContainerStore } = await import('../../containers/containers.js');
      const { stopContainer } = await import('../../containers/lifecycle.js');
      const store = createContainerStore({ root });
      let failed: unknown;
      for (const ref of refs) {
        try {
          await stopContainer(root, await store.get(ref), { timeoutSec, signal: opts.signal });
          process.stdout.write(`${ref}\n`);
        } catch (err) {
          failed = err;
          process.stderr.write(`error: ${(err as Error).message}\n`);
        }
      }
      if (failed) throw failed;
    });
}
