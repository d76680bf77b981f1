/**
 * A container's state as dockerd words it for `docker ps` (State.String: `Up 3 seconds (healthy)`,
 * `Restarting (1) 2 seconds ago`) and shapes it for inspect (State.Health), shared by the server and `kiln ps`.
 */
import type { ContainerRecord, HealthState } from './containers.js';
import { healthcheckActive } from './healthcheck.js';
import { humanDuration } from './human-duration.js';

export { humanDuration };

const since = (iso: string | undefined, now: number) => humanDuration(Math.max(0, now - Date.parse(iso ?? '') || 0));

/** ` (healthy)`, ` (health: starting)`, ` (unhealthy)`, or nothing for a container without a health check. */
export function healthSuffix(rec: Pick<ContainerRecord, 'healthcheck' | 'health'>): string {
  if (!healthcheckActive(rec.healthcheck)) return '';
  const status = rec.health?.status ?? 'starting';
  return status === 'starting' ? ' (health: starting)' : ` (${status})`;
}

/** dockerd's STATUS column (container/state.go String()): `Up 3 minutes (healthy)`, `Exited (0) 2 seconds ago`, `Created`. */
export function statusText(rec: ContainerRecord, now = Date.now()): string {
  if (rec.status === 'restarting') return `Restarting (${rec.exitCode ?? 0}) ${since(rec.finishedAt, now)} ago`;
  if (rec.status === 'running') return rec.paused ? `Up ${since(rec.startedAt, now)} (Paused)` : `Up ${since(rec.startedAt, now)}${healthSuffix(rec)}`;
  if (rec.status === 'created' || !rec.startedAt) return 'Created';
  // An exited record always has finishedAt; an older one without it is dated by its start.
  return `Exited (${rec.exitCode ?? 0}) ${since(rec.finishedAt ?? rec.startedAt, now)} ago`;
}

/** State.Health as dockerd's inspect shows it. */
export function healthJson(h: HealthState): {
  Status: string;
  FailingStreak: number;
  Log: Array<{ Start: string; End: string; ExitCode: number; Output: string }>;
} {
  return {
    Status: h.status,
    FailingStreak: h.failingStreak,
    Log: h.log.map((l) => ({ Start: l.start, End: l.end, ExitCode: l.exitCode, Output: l.output })),
  };
}
