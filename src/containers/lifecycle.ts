/**
 * Operations on stored containers from any kiln process: start detached (spawn a supervisor and wait for the
 * start to succeed or fail), stop (SIGTERM, then SIGKILL after a grace period, as `docker stop`), remove, exec.
 */
import { spawn } from 'node:child_process';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KilnError } from '../errors.js';
import { removeContainerData } from './container-runner.js';
import { createContainerStore, type ContainerRecord } from './containers.js';
import { processStartTime } from '../sandbox/owner.js';
import { runcKill } from '../sandbox/runc.js';
import { emitContainerEvent } from './container-events.js';
import { signalNumber } from './kill.js';
import { thawForSignal } from './pause.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The supervisor entry next to this file (`.ts` under tsx in development, `.js` when compiled). */
function supervisorEntry(): string {
  const self = fileURLToPath(import.meta.url);
  return fileURLToPath(new URL(`./supervisor-main${extname(self)}`, import.meta.url));
}

/**
 * Starts container `id` under a detached supervisor and waits until it runs (or already exited). A start failure
 * (unknown user, port in use, command not found) is thrown as the KilnError the supervisor recorded, after the
 * container is removed so nothing is left behind.
 */
export async function startDetached(root: string, id: string, opts: { timeoutMs?: number; keepOnError?: boolean } = {}): Promise<ContainerRecord> {
  const store = createContainerStore({ root });
  // Compiled, the supervisor runs from / so it never pins the caller's directory; under tsx (development) the
  // loader resolves from the working directory, so that one is kept.
  const cwd = process.execArgv.length ? process.cwd() : '/';
  const child = spawn(process.execPath, [...process.execArgv, supervisorEntry(), root, id], { detached: true, stdio: 'ignore', cwd });
  child.unref();
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    const rec = await store.get(id);
    if (rec.error) {
      if (!opts.keepOnError) await removeContainerData(root, rec, { volumes: true });
      throw new KilnError(rec.error.code as never, rec.error.message, { exitCode: rec.error.exitCode });
    }
    if (rec.status !== 'created') return rec;
    if (Date.now() > deadline) throw new KilnError('RUNTIME_FAILED', `container ${id.slice(0, 12)} did not start within ${(opts.timeoutMs ?? 60_000) / 1000}s`);
    await sleep(15);
  }
}

/**
 * `docker start`: runs a stopped container's process again under a detached supervisor, on its own writable
 * layer (what the last run changed is still there), with its log appended to. A running container is left as
 * it is. A failure to start keeps the container (as Docker does) and is thrown.
 */
export async function startContainer(root: string, rec: ContainerRecord): Promise<ContainerRecord> {
  if (rec.status === 'running' || rec.status === 'restarting') return rec;
  // A user's start lifts a user's stop (dockerd's HasBeenManuallyStopped), so the restart policy applies again.
  await createContainerStore({ root }).update(rec.id, {
    status: 'created',
    exitCode: undefined,
    error: undefined,
    finishedAt: undefined,
    pid: 0,
    manuallyStopped: false,
  });
  return startDetached(root, rec.id, { keepOnError: true });
}

/** `docker restart`: stop (as stopContainer), then start. */
export async function restartContainer(root: string, rec: ContainerRecord, opts: { timeoutSec?: number; signal?: string } = {}): Promise<ContainerRecord> {
  await stopContainer(root, rec, opts);
  return startContainer(root, await createContainerStore({ root }).get(rec.id));
}

/** Whether process `pid` still runs (a killed supervisor does not, even as a zombie not yet reaped). */
export async function processAlive(pid: number | undefined): Promise<boolean> {
  return Boolean(pid) && (await processStartTime(pid!)) !== undefined;
}

/**
 * `docker stop`: marks the container stopped by its user (its restart policy no longer applies), sends SIGTERM
 * (or the given signal), then SIGKILL after `timeoutSec`, and waits until the record says exited. A container
 * waiting to restart is only marked: its supervisor sees that within 100 ms and ends. Stopping a stopped
 * container is fine.
 */
export async function stopContainer(root: string, rec: ContainerRecord, opts: { timeoutSec?: number; signal?: string } = {}): Promise<void> {
  if (rec.status !== 'running' && rec.status !== 'restarting') return;
  const store = createContainerStore({ root });
  await markManuallyStopped(store, rec.id);
  // A frozen process would not act on the signal: thaw first, as dockerd's stop does.
  await thawForSignal(root, rec);
  const signal = (opts.signal ?? rec.stopSignal ?? 'TERM').replace(/^SIG/, '');
  let graceEnd = Date.now() + (opts.timeoutSec ?? 10) * 1000;
  let signalled = false;
  let killedAt = 0;
  for (;;) {
    const cur = await store.get(rec.id).catch(() => undefined);
    if (!cur || (cur.status !== 'running' && cur.status !== 'restarting')) break;
    if (cur.status === 'restarting' && !(await processAlive(cur.pid))) {
      // Its supervisor is gone (killed with the server that ran it): nothing will record the exit but this.
      await store.update(rec.id, { status: 'exited', pid: 0 }).catch(() => undefined);
      break;
    }
    // Signalled once it runs (a restart may be starting it right now).
    if (cur.status === 'running' && !signalled) {
      signalled = true;
      graceEnd = Math.max(graceEnd, Date.now());
      await runcKill(root, rec.id, signal);
      emitContainerEvent(root, rec, 'kill', { signal: String(signalNumber(signal)) });
    }
    if (Date.now() > graceEnd && !killedAt) {
      killedAt = Date.now();
      await runcKill(root, rec.id, 'KILL');
      emitContainerEvent(root, rec, 'kill', { signal: '9' });
    }
    if (killedAt && Date.now() - killedAt > 10_000) throw new KilnError('RUNTIME_FAILED', `container ${rec.id.slice(0, 12)} did not stop`);
    await sleep(50);
  }
  emitContainerEvent(root, rec, 'stop');
}

/**
 * Sets manuallyStopped and reads it back: the supervisor updates the same record (health results), and a write
 * of its that read the record before ours must not drop the mark.
 */
async function markManuallyStopped(store: ReturnType<typeof createContainerStore>, id: string): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await store.update(id, { manuallyStopped: true });
    await sleep(i === 0 ? 5 : 20);
    const cur = await store.get(id).catch(() => undefined);
    if (!cur || cur.manuallyStopped) return;
  }
}

/** `docker rm [-f] [-v]`: a running container needs `force` (CONTAINER_RUNNING otherwise). */
export async function removeContainer(root: string, rec: ContainerRecord, opts: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
  if (rec.status === 'running' || rec.status === 'restarting') {
    if (!opts.force) {
      throw new KilnError('CONTAINER_RUNNING', `cannot remove container ${rec.name}: container is running`, { hint: 'stop it first, or use kiln rm -f' });
    }
    await stopContainer(root, rec, { timeoutSec: 0, signal: 'KILL' });
  }
  const fresh = await createContainerStore({ root })
    .get(rec.id)
    .catch(() => undefined);
  if (fresh) await removeContainerData(root, fresh, { volumes: opts.volumes });
}
