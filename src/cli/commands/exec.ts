/** `kiln exec [-i] [-t] [-d] [-e K=V] [-u USER] [-w DIR] CONTAINER CMD…`: a new process in a running container. */
import type { Command } from 'commander';
import type { StatusCommand } from '../exit-status.js';
import { bool, flagHelp, list, parseFlags, str, type FlagDef } from '../../containers/cli-flags.js';
import { KilnError } from '../../errors.js';
import { globalOptions } from '../context.js';

const EXEC_FLAGS: FlagDef[] = [
  { name: 'interactive', short: 'i', help: 'keep stdin open' },
  { name: 'tty', short: 't', help: 'allocate a pseudo-terminal' },
  { name: 'detach', short: 'd', help: 'run the command in the background' },
  { name: 'env', short: 'e', value: 'multi', help: 'set an environment variable' },
  { name: 'user', short: 'u', value: 'single', help: 'user (name|uid)[:(group|gid)]' },
  { name: 'workdir', short: 'w', value: 'single', help: 'working directory inside the container' },
  { name: 'help', help: 'show this help' },
];

export function register(program: StatusCommand): void {
  program
    .command('exec')
    .description('run a command in a running container')
    .usage('[flags] CONTAINER COMMAND [ARG...]')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]')
    .addHelpText('after', `\nFlags:\n${flagHelp(EXEC_FLAGS)}`)
    .action(async (_a: string[], _o: unknown, cmd: Command) => {
      const { flags, target, rest } = parseFlags(cmd.args, EXEC_FLAGS);
      if (bool(flags, 'help')) {
        cmd.outputHelp();
        return;
      }
      if (!target || rest.length === 0)
        throw new KilnError('INVALID_ARGUMENT', '"kiln exec" requires at least 2 arguments', { hint: 'kiln exec [flags] CONTAINER COMMAND [ARG...]' });
      const root = globalOptions(cmd).root;
      await (await import('../../sandbox/cleanup.js')).cleanupStale(root);
      const { execInContainer } = await import('../../containers/exec.js');
      return execInContainer(root, target, {
        args: rest,
        env: list(flags, 'env'),
        user: str(flags, 'user'),
        cwd: str(flags, 'workdir'),
        tty: bool(flags, 'tty'),
        interactive: bool(flags, 'interactive'),
        detach: bool(flags, 'detach'),
      });
    });
}
