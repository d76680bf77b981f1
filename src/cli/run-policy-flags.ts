/**
 * `kiln run --restart` and the `--health-*` flags, read as the docker CLI reads them, and the foreground run of a
 * container with a restart policy: a detached supervisor owns it (so the policy outlives this command) and this
 * command shows its first run, exiting with that run's status, as `docker run` does.
 */
import { bool, str, type FlagDef, type ParsedFlags } from '../containers/cli-flags.js';
import type { HealthcheckConfig, RestartPolicy } from '../containers/containers.js';
import { healthcheckOf } from '../containers/healthcheck.js';
import { KilnError } from '../errors.js';
import { parseGoDuration } from '../parser/durations.js';

export const POLICY_FLAGS: FlagDef[] = [
  { name: 'restart', value: 'single', help: 'restart policy when the container exits: no, always, unless-stopped, on-failure[:N]' },
  { name: 'health-cmd', value: 'single', help: 'command to run to check health (run by /bin/sh -c)' },
  { name: 'health-interval', value: 'single', help: 'time between running the check (e.g. 30s; default 30s)' },
  { name: 'health-timeout', value: 'single', help: 'maximum time to allow one check to run (default 30s)' },
  { name: 'health-retries', value: 'single', help: 'consecutive failures needed to report unhealthy (default 3)' },
  { name: 'health-start-period', value: 'single', help: 'start period during which failures do not count (e.g. 5s)' },
  { name: 'no-healthcheck', help: 'disable any container-specified HEALTHCHECK' },
];

/** A `--health-*` duration in ns; Go's syntax (`1s`, `500ms`, `1m30s`), not negative. */
function durationFlag(flags: ParsedFlags['flags'], name: string): number | undefined {
  const v = str(flags, name);
  if (v === undefined) return undefined;
  let ns: number;
  try {
    ns = parseGoDuration(v);
  } catch {
    throw new KilnError('INVALID_ARGUMENT', `invalid argument "${v}" for "--${name}" flag: time: invalid duration "${v}"`);
  }
  if (ns < 0) throw new KilnError('INVALID_ARGUMENT', `--${name} cannot be negative`);
  return ns;
}

/** `--restart` as a policy (undefined when not given). */
export async function restartFlag(flags: ParsedFlags['flags']): Promise<RestartPolicy | undefined> {
  const v = str(flags, 'restart');
  if (v === undefined) return undefined;
  const { parseRestartFlag } = await import('../containers/restart-policy.js');
  return parseRestartFlag(v);
}

/**
 * The `--health-*` flags as Config.Healthcheck (undefined when none is given), with the docker CLI's checks:
 * `--no-healthcheck` with any other health flag conflicts, and nothing is negative.
 */
export function healthFlags(flags: ParsedFlags['flags']): HealthcheckConfig | undefined {
  const cmd = str(flags, 'health-cmd');
  const interval = durationFlag(flags, 'health-interval');
  const timeout = durationFlag(flags, 'health-timeout');
  const startPeriod = durationFlag(flags, 'health-start-period');
  const retriesText = str(flags, 'health-retries');
  const retries = retriesText === undefined ? undefined : Number(retriesText);
  if (retries !== undefined && (!Number.isInteger(retries) || retries < 0))
    throw new KilnError('INVALID_ARGUMENT', `--health-retries must be a non-negative integer (got ${JSON.stringify(retriesText)})`);
  const any = [cmd, interval, timeout, startPeriod, retries].some((v) => v !== undefined);
  if (bool(flags, 'no-healthcheck')) {
    if (any) throw new KilnError('INVALID_ARGUMENT', '--no-healthcheck conflicts with --health-* options');
    return { test: ['NONE'] };
  }
  if (!any) return undefined;
  return healthcheckOf({ Test: cmd ? ['CMD-SHELL', cmd] : [], Interval: interval, Timeout: timeout, StartPeriod: startPeriod, Retries: retries }, 'kiln run');
}

/**
 * The foreground of a `kiln run --restart …` container already started by a detached supervisor: prints its
 * output (from log.json) until its first exit, forwarding SIGINT/SIGTERM to it, and returns that exit status.
 * The container goes on under its policy.
 */
export async function followFirstRun(root: string, id: string): Promise<number> {
  const { createContainerStore } = await import('../containers/containers.js');
  const { runcKill } = await import('../sandbox/runc.js');
  const store = createContainerStore({ root });
  // Just created by this command: its first run is the one before the first restart (or the final exit).
  const count = 0;
  const { createLogReader } = await import('../containers/log-reader.js');
  const reader = createLogReader(store.logPath(id));
  const drain = async () => {
    for (const e of await reader.next()) (e.stream === 'stderr' ? process.stderr : process.stdout).write(e.log);
  };
  const forward = (sig: NodeJS.Signals) => void runcKill(root, id, sig.replace(/^SIG/, '')).catch(() => false);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  try {
    for (;;) {
      await drain();
      const rec = await store.get(id).catch(() => undefined);
      if (!rec) return 0;
      if (rec.status === 'exited' || (rec.restartCount ?? 0) !== count) {
        await drain();
        return rec.exitCode ?? 0;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
  }
}
