/**
 * What a CLI invocation talks to: its output streams, its environment, its working directory and its Ctrl-C.
 * A command run from a terminal gets this process's (`processIo()`); a build served by the resident builder
 * (src/cli/daemon) gets its client's, forwarded over a socket, so the same command code serves both and two
 * builds in one daemon never see each other's environment or cwd.
 */
import { resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { OpenedBuilder } from '../builder/open.js';

/** An output stream with what the progress renderer asks of a terminal. */
export type CliStream = Writable & { isTTY?: boolean; columns?: number };

export interface CliIo {
  stdout: CliStream;
  stderr: CliStream;
  /** Absent when the caller's stdin is not forwarded (the resident builder): `-` contexts build in-process. */
  stdin?: Readable;
  /** The caller's environment (build args without `=VALUE`, `--secret env=`, SSH_AUTH_SOCK, SOURCE_DATE_EPOCH). */
  env: NodeJS.ProcessEnv;
  /** The caller's working directory: relative paths in arguments resolve against it. */
  cwd: string;
  /**
   * A signal aborted when the caller asks to stop (SIGINT/SIGTERM here, or a daemon client's Ctrl-C or
   * disconnect), and a function that stops listening. Commands call it for the span they can be cancelled in.
   */
  interruptions(): { signal: AbortSignal; dispose(): void };
  /** Where builds get their builder; default: one opened for the invocation and closed after it. */
  builders?: BuilderSource;
}

/** A builder lent to one build; `release` closes it or hands it back. */
export interface BuilderLease {
  builder: OpenedBuilder;
  release(): Promise<void>;
}

export interface BuilderSource {
  acquire(root: string): Promise<BuilderLease>;
}

/** A builder per invocation: opened for it and closed after it (the resident builder keeps one open instead). */
export const perInvocationBuilders: BuilderSource = {
  async acquire(root) {
    const { openBuilder } = await import('../builder/open.js');
    const builder = await openBuilder(root);
    return { builder, release: () => builder.close() };
  },
};

/** Resolves a path argument against the caller's working directory. */
export function resolveArg(io: CliIo, path: string): string {
  return resolve(io.cwd, path);
}

/** This process's streams, environment, cwd and signals. */
export function processIo(): CliIo {
  ignoreClosedPipes();
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    cwd: process.cwd(),
    interruptions() {
      const ctl = new AbortController();
      const onSignal = () => ctl.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      return {
        signal: ctl.signal,
        dispose() {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        },
      };
    },
  };
}

let pipesGuarded = false;

/**
 * A reader that goes away (`kiln images | head -1`, `kiln build … 2>&1 | head`) makes the next write fail with
 * EPIPE, which Node raises as an unhandled 'error' event: a stack trace, and a command killed halfway (with mounts
 * in place, or an image half-written). The output has no reader left, so it is dropped and the command finishes.
 */
function ignoreClosedPipes(): void {
  if (pipesGuarded) return;
  pipesGuarded = true;
  const ignore = (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
  };
  process.stdout.on('error', ignore);
  process.stderr.on('error', ignore);
}
