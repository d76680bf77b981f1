/**
 * Runs a stored `kiln run` container to completion: the foreground `kiln run` calls this in-process, a detached
 * one runs it in a supervisor process (supervisor-main.ts). Output goes to the caller's streams and to
 * `log.json` (Docker's json-file format: one `{"log","stream","time"}` object per chunk) for `kiln logs`.
 */
import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { isKilnError, KilnError } from '../errors.js';
import { cleanupContainer } from '../sandbox/cleanup.js';
import { createContainerStore, type ContainerRecord } from './containers.js';
import { bundleDir, containerDir, createExecutor } from '../sandbox/executor.js';
import { releaseRootfs } from './image-rootfs.js';
import { mountsUnder } from '../sandbox/mount.js';
import { ownerAlive } from '../sandbox/owner.js';
import { runcKill, runcState } from '../sandbox/runc.js';
import type { RunningContainer } from '../sandbox/types.js';
import { createVolumeStore } from './volumes.js';
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
    for (const v of rec.volumes.filter((x) => x.anonymous)) await vols.remove(v.name, { force: true }).catch(() => {});
  }
  await createContainerStore({ root }).remove(rec.id);
}

function logStream(file: Writable, stream: 'stdout' | 'stderr', also?: Writable): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      also?.write(chunk);
      file.write(JSON.stringify({ log: chunk.toString('utf8'), stream, time: new Date().toISOString() }) + '\n', cb);
    },
  });
}

/** Runs container `id` and records its start and exit; returns the final record. Throws what the executor throws. */
export async function superviseContainer(root: string, id: string, o: SuperviseOptions = {}): Promise<ContainerRecord> {
  const store = createContainerStore({ root });
  let rec = await store.get(id);
  const log = o.inheritStdio ? undefined : createWriteStream(store.logPath(id), { flags: 'a' });
  // Record updates run in order, so a late "running" never overwrites the exit.
  let chain: Promise<unknown> = Promise.resolve();
  const update = (patch: Partial<ContainerRecord>) => (chain = chain.then(() => store.update(id, patch))) as Promise<ContainerRecord>;
  let finished = false;
  /** `running` only once runc says the process was exec'd: a missing command must not look started. */
  const watchStart = async (c: RunningContainer) => {
    if (!o.confirmStart) {
      await update({ status: 'running', startedAt: new Date().toISOString(), pid: process.pid, ip: c.ip });
      return;
    }
    for (let i = 0; i < 3000 && !finished; i++) {
      const st = await runcState(root, id);
      if (finished) return;
      if (st?.status === 'running' || st?.status === 'paused') {
        await update({ status: 'running', startedAt: new Date().toISOString(), pid: process.pid, ip: c.ip });
        return;
      }
      if (st?.status === 'stopped') return;
      await new Promise((r) => setTimeout(r, 10));
    }
  };
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
        void watchStart(c).catch(() => {});
        o.onStart?.(c);
      },
    });
    finished = true;
    rec = await update({ status: 'exited', exitCode: result.exitCode, finishedAt: new Date().toISOString(), pid: 0 });
    return rec;
  } catch (err) {
    const exitCode = isKilnError(err) ? err.exitCode : 125;
    const error = { code: isKilnError(err) ? err.code : 'INTERNAL', message: (err as Error).message, exitCode };
    finished = true;
    rec = await update({ status: 'exited', exitCode, error, finishedAt: new Date().toISOString(), pid: 0 }).catch(() => rec);
    throw err;
  } finally {
    // After the exit is recorded (the chain above), so the cleared addresses are not overwritten.
    await chain.catch(() => {});
    await leaveContainerNetworks(root, id).catch(() => {});
    await new Promise<void>((r) => (log ? log.end(() => r()) : r()));
    if (rec.autoRemove) await removeContainerData(root, rec, { volumes: true });
  }
}
