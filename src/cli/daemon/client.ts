/**
 * The `kiln build` side of the resident builder. bin/kiln.js calls `serveThroughDaemon()` before loading the CLI:
 * when the root's daemon is up, the invocation (argv, cwd, environment, terminal sizes) goes to it over its
 * socket, its output comes back, Ctrl-C is forwarded, and this process exits with the build's code, having
 * loaded no more than this file and the protocol. When no daemon is up, the CLI builds in-process as before
 * and, after a successful build, starts one for the next invocation (`startDaemon`).
 * Why: a cached rebuild is ~5 ms of work in a warm process but ~100 ms of Node start-up and module loading in
 * a new one (bench/README.md). Disabled with KILN_DAEMON=0 or `kiln build --no-daemon`.
 */
import { closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { daemonTargetFor, readBuildId, type DaemonTarget } from './identity.js';
import { encodeFrame, FRAME, readFrames, type DaemonRequest } from './protocol.js';

export type DaemonOutcome =
  /** The daemon ran the invocation; exit with `code`. */
  | { served: true; code: number }
  /** Run the CLI in-process; then call `startDaemon` (if any) when it succeeded. */
  | { served: false; startDaemon?: () => void };

const DIST_DIR = fileURLToPath(new URL('../../', import.meta.url));

/** A daemon log larger than this is restarted when its next daemon starts. */
const LOG_LIMIT = 1 << 20;

/** Exit status when the daemon vanished mid-build (its log says why). */
const DAEMON_LOST_EXIT = 70;

export async function serveThroughDaemon(argv: string[]): Promise<DaemonOutcome> {
  const buildId = readBuildId(DIST_DIR);
  if (!buildId) return { served: false };
  const target = daemonTargetFor(argv.slice(2), process.env, process.cwd(), buildId);
  if ('skip' in target) return { served: false };
  const socket = await connectTo(target.socket);
  // Only a build starts a daemon: a push uses one that is up, but is no reason to keep a process around.
  if (!socket) return { served: false, ...(target.command === 'build' ? { startDaemon: () => startDaemon(target) } : {}) };
  const request: DaemonRequest = {
    key: target.key,
    argv,
    cwd: process.cwd(),
    env: process.env as Record<string, string>,
    stdout: { isTTY: Boolean(process.stdout.isTTY), columns: process.stdout.columns },
    stderr: { isTTY: Boolean(process.stderr.isTTY), columns: process.stderr.columns },
  };
  const result = await converse(socket, request);
  if (result.code !== undefined) return { served: true, code: result.code };
  if (!result.output) return { served: false }; // refused or gone before doing anything: build here instead
  process.stderr.write('error: the resident builder exited during the build\n');
  process.stderr.write(`hint: its log is in ${target.dir}; KILN_DAEMON=0 builds without it\n`);
  return { served: true, code: DAEMON_LOST_EXIT };
}

/** Connects, or undefined when nothing listens there (no daemon, or one that died and left its socket). */
export function connectTo(path: string): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', () => resolve(undefined));
  });
}

/**
 * Sends the request and relays frames until the exit frame. `output` says whether anything reached the user,
 * which decides whether a lost connection can fall back to an in-process build.
 */
function converse(socket: Socket, request: DaemonRequest): Promise<{ code?: number; output: boolean }> {
  return new Promise((resolve) => {
    let code: number | undefined;
    let output = false;
    let interrupts = 0;
    const onSignal = () => {
      // The first Ctrl-C cancels the build cleanly (the daemon unmounts and removes what it made); a second
      // one stops waiting: the dropped connection cancels it too.
      if (++interrupts === 1 && !socket.destroyed) socket.write(encodeFrame(FRAME.interrupt));
      else {
        socket.destroy();
        process.exit(130);
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const ignoreEpipe = (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    };
    process.stdout.on('error', ignoreEpipe);
    process.stderr.on('error', ignoreEpipe);
    const relay = (out: NodeJS.WriteStream, data: Buffer) => {
      output = true;
      if (!out.write(data)) {
        socket.pause();
        out.once('drain', () => socket.resume());
      }
    };
    readFrames(socket, (type, payload) => {
      if (type === FRAME.stdout) relay(process.stdout, payload);
      else if (type === FRAME.stderr) relay(process.stderr, payload);
      else if (type === FRAME.exit) {
        const exit = JSON.parse(payload.toString('utf8')) as { code?: number; refused?: string };
        if (exit.refused === undefined) code = exit.code ?? 1;
        socket.end();
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve({ code, output });
    });
    socket.write(encodeFrame(FRAME.request, JSON.stringify(request)));
  });
}

/**
 * Starts the daemon for `target` in the background: its own session, cwd `/`, output to `<root>/daemon/<key>.log`.
 * It takes over the socket path when ready (a rename), so two clients starting one each end with one serving.
 */
export function startDaemon(target: DaemonTarget): void {
  let log: number | undefined;
  try {
    mkdirSync(target.dir, { recursive: true, mode: 0o700 });
    // One line per served build: start the log afresh once it passes LOG_LIMIT rather than let it grow for ever.
    const logPath = `${target.dir}/${target.key}.log`;
    const size = statSync(logPath, { throwIfNoEntry: false })?.size ?? 0;
    log = openSync(logPath, size > LOG_LIMIT ? 'w' : 'a', 0o600);
    void import('node:child_process').then(
      ({ spawn }) => {
        const child = spawn(process.execPath, [fileURLToPath(new URL('./main.js', import.meta.url)), target.root, target.key], {
          detached: true,
          stdio: ['ignore', log, log],
          cwd: '/',
          env: process.env,
        });
        child.on('error', () => {});
        child.unref();
        closeSync(log!);
      },
      () => closeSync(log!),
    );
  } catch {
    // An unwritable root: no daemon; every build runs in-process, which is what happened anyway.
    if (log !== undefined) closeSync(log);
  }
}
