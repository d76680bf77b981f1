/**
 * `kiln daemon status|stop`: the root's resident builders (src/cli/daemon). They start by themselves after a
 * successful `kiln build` and exit when idle; these commands show them and stop them now.
 */
import type { Command } from 'commander';
import { globalOptions } from '../context.js';

export function register(program: Command): void {
  const daemon = program.command('daemon').description('show or stop the resident builders that serve `kiln build`');
  daemon
    .command('status')
    .description('list the resident builders of this root')
    .action(async (_opts: unknown, cmd: Command) => {
      const { root, io } = globalOptions(cmd);
      const { listDaemons } = await import('../daemon/status.js');
      const list = await listDaemons(root);
      if (list.length === 0) io.stdout.write('no resident builder\n');
      for (const d of list) io.stdout.write(`${d.key}  pid ${d.pid}  ${d.alive ? 'running' : 'gone'}  since ${d.started}\n`);
    });
  daemon
    .command('stop')
    .description('stop the resident builders of this root (builds they run are cancelled)')
    .action(async (_opts: unknown, cmd: Command) => {
      const { root, io } = globalOptions(cmd);
      const { stopDaemons } = await import('../daemon/status.js');
      const stopped = await stopDaemons(root);
      io.stdout.write(stopped.length ? `stopped ${stopped.length}\n` : 'no resident builder\n');
    });
}
