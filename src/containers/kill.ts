/**
 * `docker kill [-s SIGNAL]`: sends one signal to a running container's init and does not wait (dockerd's kill
 * answers once the signal is sent; a SIGKILL'd container's `die` follows from its supervisor).
 */
import { constants } from 'node:os';
import { KilnError } from '../errors.js';
import { runcKill } from '../sandbox/runc.js';
import { emitContainerEvent } from './container-events.js';
import { createContainerStore, type ContainerRecord } from './containers.js';
import { thawForSignal } from './pause.js';

/** `KILL`, `SIGKILL`, `kill` or `9` → 9. INVALID_ARGUMENT for a signal Linux does not have. */
export function signalNumber(signal: string): number {
  const s = signal.trim();
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n >= 1 && n <= 64) return n;
  } else {
    const name = `SIG${s.toUpperCase().replace(/^SIG/, '')}` as keyof typeof constants.signals;
    const n = constants.signals[name];
    if (n !== undefined) return n;
    const rt = /^SIGRTMIN(?:\+(\d+))?$/.exec(name);
    if (rt && 34 + Number(rt[1] ?? 0) <= 64) return 34 + Number(rt[1] ?? 0);
  }
  throw new KilnError('INVALID_ARGUMENT', `invalid signal: ${JSON.stringify(signal.slice(0, 40))}`);
}

/**
 * Signals container `rec` (default SIGKILL) and records the `kill` event with the signal number, as dockerd.
 * CONTAINER_RUNNING (409) when it is not running. A paused container is thawed after the signal is queued.
 */
export async function killContainer(root: string, rec: ContainerRecord, signal = 'KILL'): Promise<void> {
  const n = signalNumber(signal);
  if (rec.status !== 'running') throw new KilnError('CONTAINER_RUNNING', `container ${rec.id} is not running`);
  // As dockerd's killWithSignal: a killed container counts as stopped by its user (its restart policy waits).
  // Recorded before the signal: a read-modify-write after it could overwrite the supervisor's record of the exit.
  await createContainerStore({ root }).update(rec.id, { manuallyStopped: true });
  if (!(await runcKill(root, rec.id, n))) throw new KilnError('CONTAINER_RUNNING', `container ${rec.id} is not running`);
  emitContainerEvent(root, rec, 'kill', { signal: String(n) });
  await thawForSignal(root, rec);
}
