/**
 * A container's state as dockerd words it for `docker ps` (State.String: `Up 3 seconds (healthy)`,
 * `Restarting (1) 2 seconds ago`) and shapes it for inspect (State.Health), shared by the server and `kiln ps`.
 */
import type { ContainerRecord, HealthState } from './containers.js';
import { healthcheckActive } from './healthcheck.js';

/**
 * go-units HumanDuration, as dockerd's ps uses it: `Less than a second`, `5 seconds`, `About a minute`, … The CLI
 * has its own copy (src/cli/human-units.ts); the containers layer may not import the CLI.
 */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const min = Math.floor(s / 60);
  const h = Math.floor(min / 60);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  if (min === 1) return 'About a minute';
  if (min < 60) return `${min} minutes`;
  if (Math.round(min / 60) === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.floor(h / 24)} days`;
  if (h < 24 * 30 * 3) return `${Math.floor(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24 / 30)} months`;
  return `${Math.floor(h / 24 / 365)} years`;
}

const since = (iso: string | undefined, now: number) => humanDuration(Math.max(0, now - Date.parse(iso ?? '') || 0));

/** ` (healthy)`, ` (health: starting)`, ` (unhealthy)`, or nothing for a container without a health check. */
export function healthSuffix(rec: Pick<ContainerRecord, 'healthcheck' | 'health'>): string {
  if (!healthcheckActive(rec.healthcheck)) return '';
  const status = rec.health?.status ?? 'starting';
  return status === 'starting' ? ' (health: starting)' : ` (${status})`;
}

/** The STATUS column of `docker ps` for a running or restarting container; `Exited (N)` / `Created` otherwise. */
export function statusText(rec: ContainerRecord, now = Date.now()): string {
  if (rec.status === 'restarting') return `Restarting (${rec.exitCode ?? 0}) ${since(rec.finishedAt, now)} ago`;
  if (rec.status === 'running') return rec.paused ? `Up ${since(rec.startedAt, now)} (Paused)` : `Up ${since(rec.startedAt, now)}${healthSuffix(rec)}`;
  if (rec.status === 'exited') return `Exited (${rec.exitCode ?? 0})`;
  return 'Created';
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
