/**
 * The resident builder: a background process per (root, kiln build, environment) that keeps the CLI's build
 * command, the builder and the store open and warm, and serves `kiln build` invocations sent by
 * src/cli/daemon/client.ts over `<root>/daemon/<key>.sock` (mode 0600: only its user can connect). Each
 * invocation runs `main()` with its client's streams, environment and cwd (src/cli/io.ts), so output, exit codes
 * and errors are exactly an in-process build's. Concurrent invocations share one builder, as `kiln serve`'s do.
 * It exits when idle for `idleMs`, when another daemon took its socket path, when its kiln build changed, or
 * on SIGTERM/SIGINT (cancelling what runs); it never outlives its root.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { openBuilder, type OpenedBuilder } from '../../builder/open.js';
import { perInvocationBuilders, type BuilderSource, type CliIo, type CliStream } from '../io.js';
import { main } from '../main.js';
import { phase } from '../../cache/profile.js';
import { daemonTargetFor, LAUNCHER_RULES, readBuildId, type DaemonTarget } from './identity.js';
import { encodeFrame, FRAME, MAX_REQUEST_BYTES, readFrames, type DaemonRequest, type TerminalInfo } from './protocol.js';

export interface DaemonOptions {
  target: DaemonTarget;
  /** The dist/ directory whose build-id this daemon runs; a changed stamp retires it. */
  distDir: string;
  buildId: string;
  /** Exit after this long with no invocation running (default 5 minutes; KILN_DAEMON_IDLE_SECONDS). */
  idleMs: number;
  log?: (line: string) => void;
}

/** How often the daemon checks that its socket is still its own, its root exists and its build is current. */
const WATCH_MS = 2000;
/** A connection must send its request this soon. */
const REQUEST_TIMEOUT_MS = 10_000;

export interface RunningDaemon {
  /** Resolves when the daemon has stopped (sockets closed, builds finished or cancelled, builder closed). */
  done: Promise<void>;
  stop(reason: string): void;
}

export async function startDaemonServer(opts: DaemonOptions): Promise<RunningDaemon> {
  const { target } = opts;
  const log = opts.log ?? ((l: string) => process.stderr.write(`${new Date().toISOString()} ${l}\n`));
  mkdirSync(target.dir, { recursive: true, mode: 0o700 });
  let builder: Promise<OpenedBuilder> | undefined;
  /** The root's builder, opened once; a failed opening is retried by the next build, not cached. */
  const sharedBuilder = (): Promise<OpenedBuilder> => {
    builder ??= openBuilder(target.root).catch((err: unknown) => {
      builder = undefined;
      throw err;
    });
    return builder;
  };
  const shared: BuilderSource = {
    async acquire(root) {
      if (root !== target.root) return perInvocationBuilders.acquire(root);
      return { builder: await sharedBuilder(), release: async () => {} };
    },
  };

  const active = new Set<AbortController>();
  let stopping: string | undefined;
  let idleTimer: NodeJS.Timeout | undefined;
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));

  // serveConnection reports a failed build itself; a throw outside that (judging the request) is logged and
  // closes that connection, never the daemon.
  const server: Server = createServer((socket) => {
    serveConnection(socket).catch((err: unknown) => {
      log(`connection failed: ${(err as Error)?.stack ?? String(err)}`);
      socket.destroy();
    });
  });
  const tmpSocket = join(target.dir, `${target.key}.${process.pid}.sock`);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(tmpSocket, () => resolve());
  });
  chmodSync(tmpSocket, 0o600);
  // The rename makes this daemon the one clients reach, atomically: an older or concurrent daemon that
  // owned the path sees a different inode at its next check and retires.
  renameSync(tmpSocket, target.socket);
  const ino = statSync(target.socket).ino;
  const recordPath = join(target.dir, `${target.key}.json`);
  const record = `${JSON.stringify({ pid: process.pid, buildId: opts.buildId, root: target.root, started: new Date().toISOString() })}\n`;
  writeFileSync(recordPath, record, { mode: 0o600 });
  log(`serving ${target.socket} (root ${target.root}, pid ${process.pid})`);
  removeStaleLogs(target.dir);

  const ownsSocket = () => {
    try {
      return statSync(target.socket).ino === ino;
    } catch {
      return false;
    }
  };
  const watch = setInterval(() => {
    if (!ownsSocket()) stop('another daemon took the socket, or the root was removed');
    else if (readBuildId(opts.distDir) !== opts.buildId) stop('kiln was rebuilt');
    // Two daemons started at once may write their records in the other order than their renames: the one
    // that owns the socket puts its own back.
    else if (readRecord() !== record) writeFileSync(recordPath, record, { mode: 0o600 });
  }, WATCH_MS);
  function readRecord(): string {
    try {
      return readFileSync(recordPath, 'utf8');
    } catch {
      return '';
    }
  }

  // Warm up while no one waits: open the builder and load what a first cached build and a first miss need
  // (the build command, the snapshotter, the executor), so even the first served build skips those ~100 ms.
  void (async () => {
    await sharedBuilder();
    await Promise.all([import('../commands/build.js'), import('../../cache/snapshotter.js'), import('../../sandbox/executor.js')]);
  })().catch((err: unknown) => log(`warm-up: ${(err as Error)?.message ?? String(err)}`));

  const armIdle = () => {
    clearTimeout(idleTimer);
    if (active.size === 0 && !stopping) idleTimer = setTimeout(() => stop(`idle for ${Math.round(opts.idleMs / 1000)} s`), opts.idleMs);
  };
  armIdle();

  function stop(reason: string): void {
    if (stopping) return;
    stopping = reason;
    log(`stopping: ${reason}`);
    clearInterval(watch);
    clearTimeout(idleTimer);
    server.close();
    if (ownsSocket()) {
      for (const f of [target.socket, join(target.dir, `${target.key}.json`)]) {
        try {
          unlinkSync(f);
        } catch {
          /* already gone */
        }
      }
    }
    maybeFinish();
  }

  function maybeFinish(): void {
    if (!stopping || active.size > 0) return;
    // Not awaited: cannot reject (both the builder and its close are caught), and finish() ends the wait.
    void (async () => {
      if (builder) await (await builder.catch(() => undefined))?.close().catch(() => {});
      finish();
    })();
  }

  async function serveConnection(socket: Socket): Promise<void> {
    const ctl = new AbortController();
    let request: DaemonRequest | undefined;
    const timer = setTimeout(() => socket.destroy(), REQUEST_TIMEOUT_MS);
    socket.on('error', () => {});
    const first = new Promise<DaemonRequest | undefined>((resolve) => {
      readFrames(
        socket,
        (type, payload) => {
          if (!request && type === FRAME.request) {
            request = JSON.parse(payload.toString('utf8')) as DaemonRequest;
            resolve(request);
          } else if (type === FRAME.interrupt) ctl.abort();
        },
        MAX_REQUEST_BYTES,
      );
      // A client that goes away (killed, its terminal closed) cancels its build, as BuildKit does.
      socket.on('close', () => {
        ctl.abort();
        resolve(undefined);
      });
    });
    const req = await first;
    clearTimeout(timer);
    if (!req || socket.destroyed) return;
    const exit = (body: { code?: number; refused?: string }) => {
      if (!socket.destroyed) socket.end(encodeFrame(FRAME.exit, JSON.stringify(body)));
    };
    const refusal = stopping ? `stopping (${stopping})` : refusalOf(req, target, opts.buildId);
    if (refusal) {
      log(`refused a request: ${refusal}`);
      exit({ refused: refusal });
      return;
    }
    active.add(ctl);
    clearTimeout(idleTimer);
    const started = performance.now();
    try {
      const io = connectionIo(socket, req, ctl.signal, shared);
      const code = await phase('daemon.main', () => main(req.argv, io));
      await Promise.all([flushed(io.stdout), flushed(io.stderr)]);
      // Logged before the exit frame, so a client that saw its exit finds the line. Never the argv or
      // environment: build args and env secrets travel there.
      log(
        `served a ${commandOf(req.argv)}: exit ${code} in ${Math.round(performance.now() - started)} ms${ctl.signal.aborted ? ' (cancelled by its client)' : ''}`,
      );
      exit({ code });
    } catch (err) {
      log(`request failed: ${(err as Error)?.stack ?? String(err)}`);
      exit({ code: 70 });
    } finally {
      active.delete(ctl);
      armIdle();
      maybeFinish();
    }
  }

  const onSignal = () => {
    for (const c of active) c.abort();
    stop('signalled');
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  // `done` only resolves and process.off cannot throw: nothing to catch.
  void done.then(() => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  });
  return { done, stop };
}

/** The command word of a served invocation (`build` or `push`), for the log. */
function commandOf(argv: string[]): string {
  const words = argv.slice(2);
  for (let i = 0; i < words.length; i++) {
    if (words[i] === LAUNCHER_RULES.rootFlag) i++;
    else if (!words[i]!.startsWith('-')) return words[i]!;
  }
  return 'command';
}

/** Logs of daemons long gone (an earlier kiln build or environment): no record, untouched for a day. */
function removeStaleLogs(dir: string): void {
  const dayAgo = Date.now() - 24 * 3600_000;
  for (const name of readdirSync(dir)) {
    const key = /^([0-9a-f]{16})\.log$/.exec(name)?.[1];
    if (!key || existsSync(join(dir, `${key}.json`))) continue;
    const st = statSync(join(dir, name), { throwIfNoEntry: false });
    if (st && st.mtimeMs < dayAgo) rmSync(join(dir, name), { force: true });
  }
}

/** Why this daemon must not serve `req` (it was computed for another root, build or environment), if so. */
function refusalOf(req: DaemonRequest, target: DaemonTarget, buildId: string): string | undefined {
  if (!Array.isArray(req.argv) || typeof req.cwd !== 'string' || typeof req.env !== 'object' || req.env === null) return 'a malformed request';
  const mine = daemonTargetFor(req.argv.slice(2), req.env, req.cwd, buildId);
  if ('skip' in mine) return `not served here: ${mine.skip}`;
  if (mine.key !== target.key || req.key !== target.key) return 'another root, kiln build or environment';
  return undefined;
}

/** The client's streams as frames on its connection, its environment, cwd and Ctrl-C. */
function connectionIo(socket: Socket, req: DaemonRequest, signal: AbortSignal, builders: BuilderSource): CliIo {
  return {
    stdout: frameStream(socket, FRAME.stdout, req.stdout),
    stderr: frameStream(socket, FRAME.stderr, req.stderr),
    env: req.env,
    cwd: req.cwd,
    builders,
    interruptions: () => ({ signal, dispose() {} }),
  };
}

/** A writable that sends each chunk as a frame, honouring the socket's back-pressure; writes after a disconnect are dropped. */
function frameStream(socket: Socket, type: number, term: TerminalInfo): CliStream {
  const w: CliStream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (socket.destroyed) return cb();
      if (socket.write(encodeFrame(type, chunk))) return cb();
      const resume = () => {
        socket.off('drain', resume);
        socket.off('close', resume);
        cb();
      };
      socket.on('drain', resume);
      socket.on('close', resume);
    },
  });
  w.isTTY = term.isTTY;
  w.columns = term.columns;
  return w;
}

function flushed(w: Writable): Promise<void> {
  return new Promise((resolve) => {
    if (w.writableLength === 0) return resolve();
    w.write('', () => resolve());
  });
}
