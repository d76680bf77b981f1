/**
 * `kiln exec`: `runc exec` into a running container. runc starts from the container's own process config
 * (capabilities, no_new_privileges, env) and applies the overrides; the user is resolved in the container's
 * mounted rootfs, like `run -u`.
 */
import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors.js';
import { createContainerStore } from './containers.js';
import { bundleDir } from '../sandbox/executor.js';
import { runcArgs, runcExecutable, runcLoggedError, runtimeError } from '../sandbox/runc.js';
import { mergeEnv, parseEnvFlags } from './run-config.js';
import { shimResizer, TTY_SHIM_RUNC_FLAGS, underTtyShim } from '../native/tty-shim.js';
import { resolveUser } from '../sandbox/user.js';
import { randomBytes } from 'node:crypto';
import { emitContainerEvent } from './container-events.js';

export interface ExecOptions {
  args: string[];
  env?: string[];
  user?: string;
  cwd?: string;
  tty?: boolean;
  /** With `tty`: rows and columns of the terminal as the process starts. */
  consoleSize?: [number, number];
  interactive?: boolean;
  detach?: boolean;
  /**
   * Streams in place of kiln's own stdio (the server's `docker exec`): output is piped to them and no signal
   * handlers are installed on this process. With `tty` the process's terminal is relayed by the tty shim
   * (src/native/tty-shim.ts): its output, stdout and stderr as one, goes to `stdout`.
   */
  streams?: { stdin?: NodeJS.ReadableStream; stdout?: Writable; stderr?: Writable };
  /** With `streams` and `tty`: receives the function that sets the terminal's size (`docker exec` resizes). */
  onTerminal?(resize: (rows: number, cols: number) => void): void;
  /** Kills the exec'd process (SIGKILL through runc's child) when aborted. */
  signal?: AbortSignal;
  /** The server's exec ID, for the exec_start / exec_die events' `execID` (a random one otherwise). */
  execId?: string;
}

/** Runs a process in container `ref`; resolves with its exit status. CONTAINER_NOT_FOUND, PRECONDITION when not running. */
export async function execInContainer(root: string, ref: string, o: ExecOptions): Promise<number> {
  const rec = await createContainerStore({ root }).get(ref);
  if (rec.status !== 'running')
    throw new KilnError('CONTAINER_RUNNING', `container ${rec.id.slice(0, 12)} is not running`, { hint: 'start a new one with kiln run' });
  if (rec.paused) throw new KilnError('CONTAINER_RUNNING', `container ${rec.id} is paused, unpause the container before exec`);
  const bundle = bundleDir(root, rec.id);
  // Unique per call: the server runs several execs into one container at once.
  const tag = `exec-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const log = join(bundle, `${tag}.log`);
  const procFile = join(bundle, `${tag}.json`);
  // A full process spec (runc exec --process): the container's own, with the overrides. Flags alone would keep
  // the container user's supplementary groups for another user.
  const config = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as { process: Record<string, any> };
  const proc: Record<string, any> = { ...config.process, args: o.args, terminal: Boolean(o.tty) };
  delete proc.consoleSize;
  if (o.tty && o.consoleSize) proc.consoleSize = { height: o.consoleSize[0], width: o.consoleSize[1] };
  if (o.cwd) proc.cwd = o.cwd;
  const extra = parseEnvFlags(o.env ?? []);
  if (extra.length) proc.env = mergeEnv(proc.env ?? [], extra);
  if (o.user !== undefined) {
    const u = await resolveUser(join(bundle, 'rootfs'), o.user);
    proc.user = { uid: u.uid, gid: u.gid, ...(u.additionalGids.length ? { additionalGids: u.additionalGids } : {}) };
  }
  await writeFile(procFile, JSON.stringify(proc));
  const st = o.streams;
  // A terminal, and none of ours to hand over (a server's streams, or `kiln exec -t` in a script): runc gives
  // it to the tty shim, which relays it over pipes.
  const shim = Boolean(o.tty) && (Boolean(st) || !(process.stdin.isTTY && process.stdout.isTTY));
  const [cmd, args] = shim
    ? underTtyShim(runcExecutable(), [...runcArgs(root, log), 'exec', ...TTY_SHIM_RUNC_FLAGS, '--process', procFile, rec.id])
    : [runcExecutable(), [...runcArgs(root, log), 'exec', '--process', procFile, ...(o.detach ? ['--detach'] : []), rec.id]];
  const child = spawn(cmd, args, {
    stdio: st
      ? [st.stdin ? 'pipe' : 'ignore', st.stdout ? 'pipe' : 'ignore', st.stderr || shim ? 'pipe' : 'ignore', ...(shim ? ['pipe' as const] : [])]
      : o.tty && !shim
        ? 'inherit'
        : [o.interactive ? 'inherit' : 'ignore', 'inherit', 'inherit'],
  });
  if (shim && st) o.onTerminal?.(shimResizer(child.stdio[3] as NodeJS.WritableStream | null));
  if (st?.stdin && child.stdin) {
    child.stdin.on('error', () => {});
    (st.stdin as NodeJS.ReadableStream).pipe(child.stdin);
  }
  // `end: false`: the caller owns its streams (the server still has to send frames after the output).
  if (st?.stdout && child.stdout) child.stdout.pipe(st.stdout, { end: false });
  // Under the shim stderr carries only runc's and the shim's own errors; they go where stderr would.
  if (st?.stderr && child.stderr) child.stderr.pipe(st.stderr, { end: false });
  else child.stderr?.resume();
  const execID = o.execId ?? randomBytes(32).toString('hex');
  emitContainerEvent(root, rec, `exec_start: ${o.args.join(' ')}`, { execID });
  const forward = (s: NodeJS.Signals) => child.kill(s);
  const onAbort = () => child.kill('SIGKILL');
  if (!st) {
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
  }
  o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const code = await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c, sig) => resolve(c ?? (sig ? 128 : 1)));
    });
    emitContainerEvent(root, rec, 'exec_die', { execID, exitCode: String(code) });
    if (code !== 0) {
      const err = await runcLoggedError(log);
      if (err) throw runtimeError(err);
    }
    return code;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    await rm(log, { force: true });
    await rm(procFile, { force: true });
  }
}
