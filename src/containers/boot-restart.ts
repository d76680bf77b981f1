/**
 * What dockerd does with containers as it boots, for `kiln serve`: leftovers of dead supervisors are cleaned, a
 * record still saying running or restarting whose supervisor is gone is marked exited, and containers whose
 * restart policy asks for it (`always`, and `unless-stopped` not stopped by a user) are started again under a
 * detached supervisor. One that fails to start is reported and left exited; boot goes on.
 */
import { cleanupStale } from '../sandbox/cleanup.js';
import { createContainerStore, type ContainerRecord } from './containers.js';
import { processAlive, startContainer } from './lifecycle.js';
import { restartsOnBoot } from './restart-policy.js';

export interface BootReport {
  /** Ids started again. */
  restarted: string[];
  /** Ids whose start failed, with why. */
  failed: Array<{ id: string; message: string }>;
}

export async function restartContainersAtBoot(root: string): Promise<BootReport> {
  await cleanupStale(root);
  const store = createContainerStore({ root });
  const report: BootReport = { restarted: [], failed: [] };
  const due: ContainerRecord[] = [];
  for (let rec of await store.list()) {
    const active = rec.status === 'running' || rec.status === 'restarting';
    // A live supervisor (detached, it outlived the previous server) still manages it.
    if (active && rec.pid !== process.pid && (await processAlive(rec.pid))) continue;
    if (active) rec = await store.update(rec.id, { status: 'exited', pid: 0, finishedAt: rec.finishedAt ?? new Date().toISOString() });
    if (rec.status === 'exited' && restartsOnBoot(rec)) due.push(rec);
  }
  await Promise.all(
    due.map((rec) =>
      startContainer(root, rec).then(
        () => void report.restarted.push(rec.id),
        (err: unknown) => void report.failed.push({ id: rec.id, message: (err as Error).message }),
      ),
    ),
  );
  return report;
}
