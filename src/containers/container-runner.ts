/**
 * Runs a stored `kiln run` container to completion: the foreground `kiln run` calls this in-process, a detached
 * one runs it in a supervisor process (supervisor-main.ts). Output goes to the caller's streams and to
 * `log.json` (Docker's json-file format: one `{"log","stream","time"}` object per chunk) for `kiln logs`.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { isKilnError, KilnError } from '../errors.js';
import { cleanupContainer } from '../sandbox/cleanup.js';
import { createContainerStore, type ContainerRecord, type ContainerStore } from './containers.js';
import { startHealthMonitor, type HealthMonitor } from './health-monitor.js';
import { nextBackoff, shouldRestart } from './restart-policy.js';
import { bundleDir, containerDir, createExecutor } from '../sandbox/executor.js';
import { releaseRootfs } from './image-rootfs.js';
import { mountsUnder } from '../sandbox/mount.js';
import { ownerAlive } from '../sandbox/owner.js';
import { runcKill, runcState } from '../sandbox/runc.js';
import type { RunningContainer } from '../sandbox/types.js';
import { createVolumeStore } from './volumes.js';
import { emitVolumeEvents } from './volume-events.js';
import { volumeUsers } from './volume-users.js';
import { emitContainerEvent } from './container-events.js';
import { executorNetwork, joinContainerNetworks, leaveContainerNetworks, type JoinedContainer } from './container-networks.js';

export interface SuperviseOptions {
  stdout?: Writable;
  stderr?: Writable;
  stdin?: NodeJS.ReadableStream;
  /** Hand the terminal to the container (`-it`); nothing is logged then. */
  inheritStdio?: boolean;
  signal?: AbortSignal;
  /** Called when the process starts (the CLI forwards Ctrl-C through it). */
  onStart?: (c: RunningContainer) => void;
  /** Mark the record `running` only once runc reports the process exec'd (a detached start waits on it). */
  confirmStart?: boolean;
  /** Called at each exit of the process; `restarting` when the restart policy starts it again. */
  onExit?: (exitCode: number, restarting: boolean) => void;
}

/**
 * Stops whatever still runs in container `id`'s bundle (a run starting or finishing) and waits until the bundle
 * is gone, so its directory can be removed without reaching into a mounted rootfs. A bundle whose owner died is
 * cleaned here. Throws MOUNT_FAILED if something stays mounted.
 */
async function settleBundle(root: string, id: string): Promise<void> {
  const bundle = bundleDir(root, id);
  const exists = () =>
    stat(bundle).then(
      () => true,
      () => false,
    );
  const deadline = Date.now() + 15_000;
  while ((await exists()) && (await ownerAlive(bundle)) && Date.now() < deadline) {
    await runcKill(root, id, 'KILL');
    await new Promise((r) => setTimeout(r, 50));
  }
  if (await exists()) await cleanupContainer(root, id).catch(() => {});
  if ((await mountsUnder(containerDir(root, id))).length) {
    throw new KilnError('MOUNT_FAILED', `container ${id.slice(0, 12)} is still mounted; not removing its files`, {
      hint: 'try again; kiln cleans it at the next start',
    });
  }
}

/** Removes a container's record, snapshot and (when `volumes`) its anonymous volumes. Never while it runs. */
export async function removeContainerData(root: string, rec: ContainerRecord, opts: { volumes?: boolean } = {}): Promise<void> {
  await settleBundle(root, rec.id);
  if (rec.snapshotKey) await releaseRootfs(root, rec.snapshotKey).catch(() => {});
  if (opts.volumes) {
    const vols = createVolumeStore({ root });
    // An anonymous volume another container still mounts (`--volumes-from`) stays, as dockerd keeps a volume in use.
    const users = await volumeUsers(root);
    for (const v of rec.volumes.filter((x) => x.anonymous)) {
      if ((users.get(v.name) ?? []).some((id) => id !== rec.id)) continue;
      await vols.remove(v.name, { force: true }).catch(() => {});
    }
  }
  await createContainerStore({ root }).remove(rec.id);
  emitContainerEvent(root, rec, 'destroy');
}

function logStream(file: Writable, stream: 'stdout' | 'stderr', also?: Writable): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      also?.write(chunk);
      file.write(JSON.stringify({ log: chunk.toString('utf8'), stream, time: new Date().toISOString() }) + '\n', cb);
    },
  });
}

/**
 * Runs container `id` and records its start and exit; returns the final record. Under a restart policy the
 * process is started again after each exit the policy restarts (restart-policy.ts), with dockerd's back-off, the
 * record saying `restarting` in between; a user's stop (manuallyStopped) or removal ends it. While the process
 * runs, its health check is probed (health-monitor.ts). Throws what the executor throws for a start that fails.
 */
export async function superviseContainer(root: string, id: string, o: SuperviseOptions = {}): Promise<ContainerRecord> {
  const store = createContainerStore({ root });
  let rec = await store.get(id);
  const log = o.inheritStdio ? undefined : createWriteStream(store.logPath(id), { flags: 'a' });
  // Record updates run in order, so a late "running" never overwrites the exit.
  let chain: Promise<unknown> = Promise.resolve();
  const update = (patch: Partial<ContainerRecord>) => (chain = chain.then(() => store.update(id, patch))) as Promise<ContainerRecord>;
  let restarts = 0;
  let backoffMs = 0;
  try {
    for (;;) {
      const began = Date.now();
      // The client's stdin goes to the first run only: a restarted process starts with none (as dockerd's).
      const exitCode = await runOnce(root, rec, restarts === 0 ? o : { ...o, stdin: undefined }, log, update);
      // Decided and recorded in one update, so a `stop` never sees an `exited` that is about to restart.
      const fresh = await store.get(id).catch(() => undefined);
      const restart =
        fresh !== undefined &&
        !o.signal?.aborted &&
        shouldRestart(fresh.restartPolicy, { exitCode, restarts, manuallyStopped: Boolean(fresh.manuallyStopped) });
      const finishedAt = new Date().toISOString();
      if (!restart) {
        rec = await update({ status: 'exited', exitCode, finishedAt, pid: 0, paused: false }).catch(() => rec);
        o.onExit?.(exitCode, false);
        return rec;
      }
      restarts++;
      backoffMs = nextBackoff(backoffMs, Date.now() - began);
      rec = await update({ status: 'restarting', exitCode, finishedAt, restartCount: (fresh.restartCount ?? 0) + 1, pid: process.pid });
      o.onExit?.(exitCode, true);
      if (!(await waitToRestart(store, id, backoffMs, o.signal))) {
        rec = await update({ status: 'exited', pid: 0 }).catch(() => rec);
        return rec;
      }
    }
  } finally {
    await new Promise<void>((r) => (log ? log.end(() => r()) : r()));
    if (rec.autoRemove) await removeContainerData(root, rec, { volumes: true });
  }
}

/**
 * Waits out the back-off before a restart; false when the restart is off meanwhile: a user stopped the container
 * (checked every 100 ms, so `stop` of a restarting container answers quickly), removed it, or the caller aborted.
 */
async function waitToRestart(store: ContainerStore, id: string, ms: number, signal?: AbortSignal): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    const cur = await store.get(id).catch(() => undefined);
    if (!cur || cur.manuallyStopped || signal?.aborted) return false;
    const left = until - Date.now();
    if (left <= 0) return true;
    await new Promise((r) => setTimeout(r, Math.min(left, 100)));
  }
}

/** One run of the process: records `running` once it is up, probes its health meanwhile; resolves with the exit code. */
async function runOnce(
  root: string,
  rec: ContainerRecord,
  o: SuperviseOptions,
  log: WriteStream | undefined,
  update: (patch: Partial<ContainerRecord>) => Promise<ContainerRecord>,
): Promise<number> {
  const id = rec.id;
  let finished = false;
  let health: HealthMonitor | undefined;
  /** When runc started the process, and whether the record said so (a process that exits at once never does). */
  let startedAt: string | undefined;
  let markedRunning = false;
  let startEmitted = false;
  const started = (r: ContainerRecord) => {
    startEmitted = true;
    emitContainerEvent(root, r, 'start');
  };
  const markRunning = async (c: RunningContainer) => {
    markedRunning = true;
    const startedAt = new Date();
    const running = await update({ status: 'running', startedAt: startedAt.toISOString(), pid: process.pid, ip: c.ip, paused: false });
    started(running);
    if (!finished) health = startHealthMonitor(root, running, { startedAt: startedAt.getTime(), save: (h) => update({ health: h }) });
  };
  /** `running` only once runc says the process was exec'd: a missing command must not look started. */
  const watchStart = async (c: RunningContainer) => {
    if (!o.confirmStart) return markRunning(c);
    for (let i = 0; i < 3000 && !finished; i++) {
      const st = await runcState(root, id);
      if (finished) return;
      if (st?.status === 'running' || st?.status === 'paused') return markRunning(c);
      if (st?.status === 'stopped') return;
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  emitVolumeEvents(root, id, rec.spec.mounts ?? [], 'mount');
  let joined: JoinedContainer | undefined;
  try {
    // User-defined networks: their namespace is made here (src/networks) and handed to the executor.
    joined = await joinContainerNetworks(root, rec);
    if (joined) rec = await update({ networks: joined.networks, ip: joined.ip });
    const result = await createExecutor({ root }).run({
      ...rec.spec,
      network: joined?.mode ?? executorNetwork(rec),
      // On user-defined networks /etc/hosts also names the container, and DNS goes to the network's server.
      ...(joined ? { nameservers: joined.nameservers, extraHosts: [...(rec.spec.extraHosts ?? []), ...(joined.ip ? [`${joined.ip}\t${rec.name}`] : [])] } : {}),
      id,
      stdio: o.inheritStdio ? 'inherit' : undefined,
      stdin: o.stdin,
      stdout: log ? logStream(log, 'stdout', o.stdout) : undefined,
      stderr: log ? logStream(log, 'stderr', o.stderr) : undefined,
      signal: o.signal,
      onStart: (c) => {
        startedAt = new Date().toISOString();
        void watchStart(c).catch(() => {});
        o.onStart?.(c);
      },
    });
    finished = true;
    // It ran and exited before the record said running (`docker run true`): it started all the same, as
    // dockerd's StartedAt, `Exited (0) … ago` and its start event say.
    if (!markedRunning && startedAt) {
      const ran = await update({ startedAt });
      if (!startEmitted) started(ran);
    }
    emitContainerEvent(root, rec, 'die', { exitCode: String(result.exitCode ?? 0) });
    return result.exitCode;
  } catch (err) {
    const exitCode = isKilnError(err) ? err.exitCode : 125;
    const error = { code: isKilnError(err) ? err.code : 'INTERNAL', message: (err as Error).message, exitCode };
    finished = true;
    await health?.stop();
    const failed = await update({ status: 'exited', exitCode, error, finishedAt: new Date().toISOString(), pid: 0, paused: false }).catch(() => rec);
    emitContainerEvent(root, failed, 'die', { exitCode: String(exitCode) });
    o.onExit?.(exitCode, false);
    throw err;
  } finally {
    finished = true;
    await health?.stop();
    emitVolumeEvents(root, id, rec.spec.mounts ?? [], 'unmount');
    // After the pending record updates, so the addresses it clears are not written back.
    await update({}).catch(() => undefined);
    await leaveContainerNetworks(root, id).catch(() => {});
  }
}
