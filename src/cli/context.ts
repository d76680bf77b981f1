/**
 * What every CLI command gets: the global options, resolved once. Commands are thin: they parse their flags,
 * call library functions, and render results. They never catch errors for display; main.ts does that.
 */
import type { Command } from 'commander';
import { resolveRoot } from '../config.js';
import { processIo, type CliIo } from './io.js';
import type { StatusCommand } from './exit-status.js';

export interface GlobalOptions {
  /** The state directory (store, cache, containers). */
  root: string;
  /** A remote kiln server (`tcp://host:port` or `unix:///path`), from `--host` or `KILN_HOST`. */
  host?: string;
  debug: boolean;
  /** The invocation's streams, environment and cwd (a daemon-served build's are its client's). */
  io: CliIo;
}

const ioOfProgram = new WeakMap<Command, CliIo>();

/** Binds an invocation's I/O to its program; main.ts calls it once per parse. */
export function attachIo(program: Command, io: CliIo): void {
  ioOfProgram.set(program, io);
}

/** Reads the global options from the root program at action time (they may come before or after the command). */
export function globalOptions(cmd: Command): GlobalOptions {
  let top: Command = cmd;
  while (top.parent) top = top.parent;
  const o = top.opts<{ root?: string; host?: string; debug?: boolean }>();
  const io = ioOfProgram.get(top) ?? processIo();
  return {
    root: resolveRoot(o.root, io.env, io.cwd),
    host: o.host ?? (io.env.KILN_HOST || undefined),
    debug: Boolean(o.debug ?? io.env.KILN_DEBUG),
    io,
  };
}

/** A command module: adds its subcommand(s) to the program (whose actions may return an exit status). */
export type RegisterCommand = (program: StatusCommand) => void;
