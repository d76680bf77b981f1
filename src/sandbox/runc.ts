/**
 * The runc command line, with kiln's own state directory (`<root>/runc`) so `runc list` shows exactly kiln's
 * containers and clean-up after a crash can find them. runc is spawned with stdio only: no other descriptor of
 * kiln can reach the container (CVE-2024-21626).
 */
import { accessSync, closeSync, constants, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import { KilnError } from '../errors.js';
import { sealedCopy } from '../native/fsx.js';
import { tool } from './tool.js';

export const RUNC = process.env.KILN_RUNC ?? 'runc';

/** The runc binary `RUNC` names, found on PATH as execvp would. */
function runcOnPath(): string | undefined {
  if (isAbsolute(RUNC)) return RUNC;
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    const p = join(dir || '.', RUNC);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

let sealed: { fd: number; path: string; ino: number; size: number; mtimeMs: number } | undefined;

/**
 * What to execute for a container start: this process's sealed in-memory copy of runc (`/proc/PID/fd/N`), else
 * `RUNC`. runc 1.1 protects its binary from a container that would rewrite it (CVE-2019-5736) by re-executing
 * itself from a read-only copy at every start; a runc executed from a memfd sealed against writes is such a copy,
 * which runc recognises by its seals and does not copy again (about 5 ms of every RUN step here). The copy is
 * made again when the binary on disk changes (an upgrade reaches the next start).
 */
export function runcExecutable(): string {
  try {
    const path = sealed?.path ?? runcOnPath();
    if (!path) return RUNC;
    const st = statSync(path);
    if (!sealed || sealed.ino !== st.ino || sealed.size !== st.size || sealed.mtimeMs !== st.mtimeMs) {
      const fd = sealedCopy(path);
      if (fd === undefined) return RUNC;
      // A spawn that used the old copy has executed it already: Node's spawn returns after the child's exec.
      if (sealed) closeSync(sealed.fd);
      sealed = { fd, path, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
    }
    return `/proc/${process.pid}/fd/${sealed.fd}`;
  } catch {
    return RUNC;
  }
}

export function runcStateDir(root: string): string {
  return join(root, 'runc');
}

/** Global arguments for every runc call of this root. */
export function runcArgs(root: string, logFile?: string): string[] {
  const a = ['--root', runcStateDir(root)];
  if (logFile) a.push('--log', logFile, '--log-format', 'json');
  return a;
}

/** The last error runc logged to a `--log-format json` file, or undefined. */
export async function runcLoggedError(logFile: string): Promise<string | undefined> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  let msg: string | undefined;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as { level?: string; msg?: string };
      if ((e.level === 'error' || e.level === 'fatal') && e.msg) msg = e.msg;
    } catch {
      /* not JSON: ignore */
    }
  }
  return msg;
}

/** Sends `signal` to a container's init (`runc kill`). Returns false if runc knows no such container. */
export async function runcKill(root: string, id: string, signal: string | number = 'KILL', all = false): Promise<boolean> {
  const r = await tool(RUNC, [...runcArgs(root), 'kill', ...(all ? ['--all'] : []), id, String(signal)]);
  return r.code === 0;
}

/** `runc delete --force`; fine when the container is already gone. */
export async function runcDelete(root: string, id: string): Promise<void> {
  await tool(RUNC, [...runcArgs(root), 'delete', '--force', id]);
}

export interface RuncContainer {
  id: string;
  pid: number;
  status: string;
  bundle: string;
}

/** Containers runc knows under this root. */
export async function runcList(root: string): Promise<RuncContainer[]> {
  const r = await tool(RUNC, [...runcArgs(root), 'list', '--format', 'json']);
  if (r.code !== 0) return [];
  try {
    return (JSON.parse(r.stdout || 'null') ?? []) as RuncContainer[];
  } catch {
    return [];
  }
}

/** `runc state` of one container, or undefined. */
export async function runcState(root: string, id: string): Promise<RuncContainer | undefined> {
  const r = await tool(RUNC, [...runcArgs(root), 'state', id]);
  if (r.code !== 0) return undefined;
  return JSON.parse(r.stdout) as RuncContainer;
}

/** Maps runc's start failure to Docker's wording and code: a missing executable is exit 127. */
export function runtimeError(msg: string): KilnError {
  const clean = msg.replace(/^runc (run|create|exec) failed: /, '');
  const docker = /^exec failed: /.test(clean)
    ? `OCI runtime exec failed: ${clean}: unknown`
    : `failed to create task for container: OCI runtime create failed: runc create failed: ${clean}: unknown`;
  if (/executable file not found|no such file or directory/.test(clean) && /exec: /.test(clean)) {
    return new KilnError('COMMAND_NOT_FOUND', docker, { exitCode: 127 });
  }
  if (/permission denied/.test(clean) && /exec: /.test(clean)) {
    return new KilnError('COMMAND_NOT_FOUND', docker, { exitCode: 126 });
  }
  return new KilnError('RUNTIME_FAILED', docker);
}
