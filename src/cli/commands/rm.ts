/** `kiln rm [-f] [-v] CONTAINER…`: removes containers (a running one only with -f); -v takes anonymous volumes too. */
import type { Command } from 'commander';
import { globalOptions } from '../context.js';

export function register(program: Command): void {
  program
    .command('rm')
    .description('remove one or more containers')
    .argument('<containers...>')
    .option('-f, --force', 'force the removal of a running container (SIGKILL)')
    .option('-v, --volumes', 'remove anonymous volumes associated with the container')
    .action(async (refs: string[], opts: { force?: boolean; volumes?: boolean }, cmd: Command) => {
      const root = globalOptions(cmd).root;
      // A supervisor that died leaves a container marked running; start-up clean-up settles that first.
      await (await import('../../sandbox/cleanup.js')).cleanupStale(root);
      const { createContainerStore } = await import('../../containers/containers.js');
      const { removeContainer } = await import('../../containers/lifecycle.js');
      const store = createContainerStore({ root });
      let failed: unknown;
      for (const ref of refs) {
        try {
          await removeContainer(root, await store.get(ref), { force: opts.force, volumes: opts.volumes });
          process.stdout.write(`${ref}\n`);
        } catch (err) {
          failed = err;
          if (refs.length > 1) process.stderr.write(`error: ${(err as Error).message}\n`);
        }
      }
      if (failed) throw failed;
    });
}
