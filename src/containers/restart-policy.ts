/**
 * Docker's restart policies (`--restart no|always|unless-stopped|on-failure[:N]`, HostConfig.RestartPolicy) as
 * pure decisions: parsing, whether an exit restarts the container, and dockerd's back-off between restarts
 * (restartmanager: 100 ms doubling to at most a minute, back to 100 ms after a run of at least 10 s).
 */
import { KilnError } from '../errors.js';
import type { ContainerRecord, RestartPolicy } from './containers.js';

const NAMES = ['', 'no', 'always', 'unless-stopped', 'on-failure'] as const;

/** `--restart VALUE` as the docker CLI parses it; INVALID_ARGUMENT naming the flag otherwise. */
export function parseRestartFlag(value: string): RestartPolicy {
  const [name = '', count, extra] = value.split(':');
  if (extra !== undefined) throw new KilnError('INVALID_ARGUMENT', `invalid --restart "${value}": use no, always, unless-stopped or on-failure[:N]`);
  return restartPolicyOf({ Name: name, MaximumRetryCount: count === undefined ? 0 : countOf(count, value) }, `--restart ${value}`);
}

function countOf(s: string, shown: string): number {
  if (!/^\d+$/.test(s)) throw new KilnError('INVALID_ARGUMENT', `invalid --restart "${shown}": the retry count must be a non-negative integer`);
  return Number(s);
}

/**
 * HostConfig.RestartPolicy {Name, MaximumRetryCount} checked as dockerd's validateRestartPolicy does: a count is
 * for on-failure only, and never negative. `shown` names the option in errors.
 */
export function restartPolicyOf(v: unknown, shown = 'HostConfig.RestartPolicy'): RestartPolicy {
  const o = (v ?? {}) as { Name?: unknown; MaximumRetryCount?: unknown };
  const name = o.Name === undefined || o.Name === null ? '' : o.Name;
  const count = o.MaximumRetryCount === undefined || o.MaximumRetryCount === null ? 0 : o.MaximumRetryCount;
  if (typeof name !== 'string' || !(NAMES as readonly string[]).includes(name))
    throw new KilnError('INVALID_ARGUMENT', `invalid restart policy ${JSON.stringify(name)} (${shown})`, {
      hint: 'use no, always, unless-stopped or on-failure[:N]',
    });
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 0)
    throw new KilnError('INVALID_ARGUMENT', `invalid restart policy: maximum retry count must be a non-negative integer (${shown})`);
  if (count > 0 && name !== 'on-failure')
    throw new KilnError('INVALID_ARGUMENT', `invalid restart policy: maximum retry count can only be used with 'on-failure' (${shown})`);
  return { name: name as RestartPolicy['name'], maximumRetryCount: count };
}

/** A policy under which the container may ever be restarted (not absent, '' or no). */
export function hasRestartPolicy(p: RestartPolicy | undefined): p is RestartPolicy {
  return Boolean(p && p.name !== '' && p.name !== 'no');
}

/**
 * Whether an exit with `exitCode` restarts the container: never after a user's stop/kill/rm; on-failure for a
 * non-zero code while fewer than MaximumRetryCount (0: unlimited) restarts were made in this run of restarts.
 */
export function shouldRestart(p: RestartPolicy | undefined, o: { exitCode: number; restarts: number; manuallyStopped: boolean }): boolean {
  if (!hasRestartPolicy(p) || o.manuallyStopped) return false;
  if (p.name === 'always' || p.name === 'unless-stopped') return true;
  return o.exitCode !== 0 && (p.maximumRetryCount === 0 || o.restarts < p.maximumRetryCount);
}

export const BACKOFF_FIRST_MS = 100;
export const BACKOFF_MAX_MS = 60_000;
/** A run at least this long resets the back-off (dockerd's restartmanager). */
export const BACKOFF_RESET_AFTER_MS = 10_000;

/** The delay before the next restart, given the previous delay (0: none yet) and how long the last run lasted. */
export function nextBackoff(previousMs: number, ranMs: number): number {
  if (previousMs === 0 || ranMs >= BACKOFF_RESET_AFTER_MS) return BACKOFF_FIRST_MS;
  return Math.min(previousMs * 2, BACKOFF_MAX_MS);
}

/** What `kiln serve` starts at boot, as dockerd does: `always`, and `unless-stopped` a user did not stop. */
export function restartsOnBoot(rec: Pick<ContainerRecord, 'restartPolicy' | 'manuallyStopped'>): boolean {
  const p = rec.restartPolicy?.name;
  return p === 'always' || (p === 'unless-stopped' && !rec.manuallyStopped);
}
