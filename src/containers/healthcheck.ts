/**
 * Health checks as dockerd runs them: the image's HEALTHCHECK under the `--health-*` overrides (field by field),
 * Docker's defaults, and the state machine a probe result drives (starting → healthy / unhealthy, the failing
 * streak, the last five results). Pure; the probing loop is health-monitor.ts.
 */
import { KilnError } from '../errors.js';
import type { HealthConfig } from '../image/types.js';
import type { HealthcheckConfig, HealthState } from './containers.js';

export const DEFAULT_INTERVAL_MS = 30_000;
export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_RETRIES = 3;
/** dockerd keeps this many probe results, and this much of each probe's output. */
export const KEPT_RESULTS = 5;
export const MAX_OUTPUT_BYTES = 4096;
/** The shortest interval, timeout or start period dockerd accepts (a nonzero one). */
const MIN_DURATION_NS = 1_000_000;

/**
 * Config.Healthcheck as a create body (or `kiln run`'s flags) gives it, checked as dockerd does: durations in ns,
 * 0 for "the image's or the default", at least 1 ms otherwise; retries not negative; Test starting with NONE,
 * CMD or CMD-SHELL (or empty: the image's). `shown` names the option in errors.
 */
export function healthcheckOf(v: unknown, shown = 'Config.Healthcheck'): HealthcheckConfig | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw new KilnError('INVALID_ARGUMENT', `${shown} must be an object`);
  const o = v as Record<string, unknown>;
  const test = o.Test ?? [];
  if (!Array.isArray(test) || !test.every((t) => typeof t === 'string')) throw new KilnError('INVALID_ARGUMENT', `${shown}.Test must be a list of strings`);
  if (test.length && !['NONE', 'CMD', 'CMD-SHELL'].includes(test[0]!))
    throw new KilnError('INVALID_ARGUMENT', `${shown}.Test: unknown type ${JSON.stringify(test[0])} (NONE, CMD or CMD-SHELL)`);
  if ((test[0] === 'CMD' || test[0] === 'CMD-SHELL') && test.length < 2) throw new KilnError('INVALID_ARGUMENT', `${shown}.Test: no command after ${test[0]}`);
  const out: HealthcheckConfig = { test: test as string[] };
  const duration = (field: string, key: 'intervalNs' | 'timeoutNs' | 'startPeriodNs' | 'startIntervalNs', option: string) => {
    const d = o[field];
    if (d === undefined || d === null || d === 0) return;
    if (typeof d !== 'number' || !Number.isInteger(d) || d < MIN_DURATION_NS)
      throw new KilnError('INVALID_ARGUMENT', `${option} cannot be less than 1ms (${shown}.${field}: ${String(d)})`);
    out[key] = d;
  };
  duration('Interval', 'intervalNs', '--health-interval');
  duration('Timeout', 'timeoutNs', '--health-timeout');
  duration('StartPeriod', 'startPeriodNs', '--health-start-period');
  duration('StartInterval', 'startIntervalNs', '--health-start-interval');
  const retries = o.Retries;
  if (retries !== undefined && retries !== null && retries !== 0) {
    if (typeof retries !== 'number' || !Number.isInteger(retries) || retries < 0)
      throw new KilnError('INVALID_ARGUMENT', `--health-retries cannot be negative (${shown}.Retries: ${String(retries)})`);
    out.retries = retries;
  }
  return out;
}

/**
 * The health check a container runs: the request's fields over the image's (dockerd's merge: an empty Test and
 * zero durations take the image's). Undefined when neither has one.
 */
export function mergeHealthcheck(image: HealthConfig | undefined, given: HealthcheckConfig | undefined): HealthcheckConfig | undefined {
  const base = healthcheckOf(image, 'the image HEALTHCHECK');
  if (!base && !given) return undefined;
  const pick = <K extends keyof HealthcheckConfig>(k: K) => (given?.[k] ? given[k] : base?.[k]);
  const out: HealthcheckConfig = { test: given?.test.length ? given.test : (base?.test ?? []) };
  for (const k of ['intervalNs', 'timeoutNs', 'startPeriodNs', 'startIntervalNs', 'retries'] as const) {
    const v = pick(k);
    if (v) out[k] = v;
  }
  return out;
}

/** Whether `hc` runs a probe at all (`--no-healthcheck` and HEALTHCHECK NONE do not). */
export function healthcheckActive(hc: HealthcheckConfig | undefined): hc is HealthcheckConfig {
  return Boolean(hc && hc.test.length >= 2 && hc.test[0] !== 'NONE');
}

/** The argv of a probe: CMD runs as given, CMD-SHELL under `/bin/sh -c` (as dockerd on Linux). */
export function probeArgs(hc: HealthcheckConfig): string[] {
  if (hc.test[0] === 'CMD-SHELL') return ['/bin/sh', '-c', hc.test.slice(1).join(' ')];
  return hc.test.slice(1);
}

/** Interval, timeout, start period (ms) and retries with Docker's defaults applied. */
export function healthTiming(hc: HealthcheckConfig): { intervalMs: number; timeoutMs: number; startPeriodMs: number; retries: number } {
  return {
    intervalMs: hc.intervalNs ? hc.intervalNs / 1e6 : DEFAULT_INTERVAL_MS,
    timeoutMs: hc.timeoutNs ? hc.timeoutNs / 1e6 : DEFAULT_TIMEOUT_MS,
    startPeriodMs: hc.startPeriodNs ? hc.startPeriodNs / 1e6 : 0,
    retries: hc.retries ? hc.retries : DEFAULT_RETRIES,
  };
}

export interface ProbeResult {
  start: string;
  end: string;
  exitCode: number;
  output: string;
}

/** Output clipped to dockerd's 4 KiB (at a character boundary). */
export function clipOutput(s: string): string {
  const b = Buffer.from(s, 'utf8');
  if (b.length <= MAX_OUTPUT_BYTES) return s;
  return b
    .subarray(0, MAX_OUTPUT_BYTES)
    .toString('utf8')
    .replace(/\uFFFD$/, '');
}

/**
 * The state after one probe, as dockerd's handleProbeResult: success makes it healthy and clears the streak; a
 * failure inside the start period (while still starting) is logged but not counted; otherwise the streak grows
 * and reaching `retries` makes it unhealthy.
 */
export function applyProbe(state: HealthState, r: ProbeResult, o: { retries: number; inStartPeriod: boolean }): HealthState {
  const log = [...state.log, { ...r, output: clipOutput(r.output) }].slice(-KEPT_RESULTS);
  if (r.exitCode === 0) return { status: 'healthy', failingStreak: 0, log };
  if (o.inStartPeriod && state.status === 'starting') return { ...state, log };
  const failingStreak = state.failingStreak + 1;
  return { status: failingStreak >= o.retries ? 'unhealthy' : state.status, failingStreak, log };
}

/** The state a container starts with. */
export function initialHealth(): HealthState {
  return { status: 'starting', failingStreak: 0, log: [] };
}
