/**
 * What every CLI command gets: the global options, resolved once. Commands are thin: they parse their flags,
 * call library functions, and render results. They never catch errors for display; main.ts does that.
 */
import type { Command } from 'commander';
import { resolveRoot } from '../config.js';

export interface GlobalOptions {
  /** The state directory (store, cache, containers). */
  root: string;
  /** A remote kiln server (`tcp://host:port` or `unix:///path`), from `--host` or `KILN_HOST`. */
  host?: string;
  debug: boolean;
}

/** Reads the global options from the root program at action time (they may come before or after the command). */
export function globalOptions(cmd: Command): GlobalOptions {
  let top: Command = cmd;
  while (top.parent) top = top.parent;
  const o = top.opts<{ root?: string; host?: string; debug?: boolean }>();
  return {
    root: resolveRoot(o.root),
    host: o.host ?? (process.env.KILN_HOST || undefined),
    debug: Boolean(o.debug ?? process.env.KILN_DEBUG),
  };
}

/** A command module: adds its subcommand(s) to the program. */
export type RegisterCommand = (program: Command) => void;
