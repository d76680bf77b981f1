/**
 * kiln's command-line entry. The only top-level error handler: a KilnError prints `error: …` (with its
 * `file:line` and hint) and exits with its code; anything else is a bug and prints with its stack.
 */
import { CommanderError } from 'commander';
import { isKilnError } from '../errors.js';
import { commandModules, type CommandLoader } from './commands/index.js';
import { attachIo } from './context.js';
import { processIo, type CliIo } from './io.js';
import { StatusCommand } from './exit-status.js';

/**
 * Runs one invocation and returns its exit status (the caller sets it on its process, once); `io` is this
 * process's unless the resident builder serves it for a client.
 */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const program = new StatusCommand('kiln')
    .description('Build OCI images from Dockerfiles, run them in runc sandboxes, push them to registries.')
    .version('0.1.0')
    .option('--root <dir>', 'state directory (default: $KILN_ROOT or /var/lib/kiln)')
    .option('-H, --host <url>', 'use a remote kiln server (tcp://HOST:PORT or unix:///PATH; default $KILN_HOST)')
    .option('--debug', 'print stack traces and debug logs')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      // Help wraps to the caller's terminal (a daemon-served invocation's is its client's), without colours.
      getOutHelpWidth: () => (io.stdout.isTTY && io.stdout.columns) || 80,
      getErrHelpWidth: () => (io.stderr.isTTY && io.stderr.columns) || 80,
      getOutHasColors: () => false,
      getErrHasColors: () => false,
    });
  attachIo(program, io);
  // A module may own several commands (start and restart): register each module once.
  const modules = new Set(await Promise.all(modulesFor(argv.slice(2)).map((load) => load())));
  for (const m of modules) m.register(program);

  try {
    await program.parseAsync(argv);
    return program.exitStatus ?? 0;
  } catch (err) {
    return reportError(err, argv.includes('--debug') || Boolean(io.env.KILN_DEBUG), io.stderr);
  }
}

/** Global options that take a value: their value is not the command name. */
const GLOBAL_VALUE_OPTIONS = new Set(['--root', '-H', '--host']);

/** The modules to load for `args` (argv without node and script): the command's own, or all of them. */
function modulesFor(args: string[]): CommandLoader[] {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (GLOBAL_VALUE_OPTIONS.has(a)) {
      i++;
      continue;
    }
    if (a.startsWith('-')) continue;
    const own = commandModules[a];
    return own ? [own] : Object.values(commandModules);
  }
  return Object.values(commandModules);
}

/** Prints an error the way a user should see it; returns the exit status. */
export function reportError(err: unknown, debug: boolean, stderr: NodeJS.WritableStream = process.stderr): number {
  if (err instanceof CommanderError) {
    // commander already printed its message (unknown option, missing argument, --help, --version).
    return err.exitCode === 0 ? 0 : 2;
  }
  if (isKilnError(err)) {
    stderr.write(`error: ${err.describe()}\n`);
    if (err.hint) stderr.write(`hint: ${err.hint}\n`);
    if (debug && err.stack) stderr.write(`${err.stack}\n`);
    return err.exitCode;
  }
  stderr.write(`kiln: internal error (a bug; please report it):\n${(err as Error)?.stack ?? String(err)}\n`);
  return 70;
}
