/**
 * `docker pause` / `unpause`: freezes every process of a running container with the cgroup freezer (`runc
 * pause` / `resume`). The record keeps `status: running` with `paused: true`, as Docker's State.Running stays
 * true while State.Paused is set.
 */
import { KilnError } from '../errors.js';
import { RUNC, runcArgs } from '../sandbox/runc.js';
import { tool } from '../sandbox/tool.js';
import { emitContainerEvent } from './container-events.js';
import { createContainerStore, type ContainerRecord } from './containers.js';

async function runc(root: string, verb: 'pause' | 'resume', id: string): Promise<void> {
  const r = await tool(RUNC, [...runcArgs(root), verb, id]);
  if (r.code !== 0)
    throw new KilnError('RUNTIME_FAILED', `cannot ${verb === 'pause' ? 'pause' : 'unpause'} container ${id.slice(0, 12)}: ${r.stderr.trim().slice(0, 300)}`);
}

function notRunning(rec: ContainerRecord): KilnError {
  return new KilnError('CONTAINER_RUNNING', `container ${rec.id} is not running`);
}

/** Freezes a running container. CONTAINER_RUNNING (409) when it is not running or already paused. */
export async function pauseContainer(root: string, rec: ContainerRecord): Promise<ContainerRecord> {
  if (rec.status !== 'running') throw notRunning(rec);
  if (rec.paused) throw new KilnError('CONTAINER_RUNNING', `container ${rec.id} is already paused`);
  await runc(root, 'pause', rec.id);
  const next = await createContainerStore({ root }).update(rec.id, { paused: true });
  emitContainerEvent(root, next, 'pause');
  return next;
}

/** Thaws a paused container. CONTAINER_RUNNING (409) when it is not paused, as dockerd. */
export async function unpauseContainer(root: string, rec: ContainerRecord): Promise<ContainerRecord> {
  if (rec.status !== 'running') throw notRunning(rec);
  if (!rec.paused) throw new KilnError('CONTAINER_RUNNING', `container ${rec.id} is not paused`);
  // Recorded before the thaw: once thawed the process may exit, and a write after that could overwrite the
  // supervisor's record of the exit.
  const store = createContainerStore({ root });
  const next = await store.update(rec.id, { paused: false });
  try {
    await runc(root, 'resume', rec.id);
  } catch (err) {
    await store.update(rec.id, { paused: true }).catch(() => {});
    throw err;
  }
  emitContainerEvent(root, next, 'unpause');
  return next;
}

/**
 * Thaws a paused container before it is stopped or killed: a frozen process does not act on a signal until
 * thawed (dockerd's stop and kill resume it too, with no unpause event). Quiet: a container that stopped
 * meanwhile needs nothing.
 */
export async function thawForSignal(root: string, rec: ContainerRecord): Promise<void> {
  if (!rec.paused) return;
  await createContainerStore({ root })
    .update(rec.id, { paused: false })
    .catch(() => {});
  await tool(RUNC, [...runcArgs(root), 'resume', rec.id]);
}
