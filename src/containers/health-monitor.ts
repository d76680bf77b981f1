/**
 * The probing loop a container's supervisor runs while the process is up: every interval it execs the health
 * check inside the container (exec.ts, as `docker exec` would), bounded by the timeout, records State.Health and
 * emits `health_status: healthy|unhealthy` when the status changes (dockerd's events).
 */
import { Writable } from 'node:stream';
import { emitEvent } from '../events/events.js';
import { isKilnError } from '../errors.js';
import type { ContainerRecord, HealthState } from './containers.js';
import { execInContainer } from './exec.js';
import { applyProbe, healthcheckActive, healthTiming, initialHealth, MAX_OUTPUT_BYTES, probeArgs, type ProbeResult } from './healthcheck.js';

export interface HealthMonitor {
  /** Stops probing and waits for a probe in flight to end. */
  stop(): Promise<void>;
}

/** Attributes of a container event, as dockerd's: name, image and the labels. */
export function containerEventAttributes(rec: ContainerRecord): Record<string, string> {
  return { ...(rec.labels ?? {}), name: rec.name, image: rec.image };
}

/**
 * Starts probing container `rec` (which runs since `startedAt`); `save` persists each new state (the supervisor's
 * ordered record updates). Returns undefined when the container has no active health check.
 */
export function startHealthMonitor(
  root: string,
  rec: ContainerRecord,
  o: { startedAt: number; save: (health: HealthState) => Promise<unknown> },
): HealthMonitor | undefined {
  const hc = rec.healthcheck;
  if (!healthcheckActive(hc)) return undefined;
  const t = healthTiming(hc);
  const abort = new AbortController();
  let state = initialHealth();
  const loop = async () => {
    await o.save(state);
    while (!abort.signal.aborted) {
      await sleep(t.intervalMs, abort.signal);
      if (abort.signal.aborted) break;
      const result = await probe(root, rec.id, probeArgs(hc), t.timeoutMs, abort.signal);
      if (abort.signal.aborted) break;
      const before = state.status;
      state = applyProbe(state, result, { retries: t.retries, inStartPeriod: Date.now() - o.startedAt < t.startPeriodMs });
      await o.save(state).catch(() => {});
      if (state.status !== before && state.status !== 'starting')
        emitEvent(root, 'container', `health_status: ${state.status}`, rec.id, containerEventAttributes(rec));
    }
  };
  const done = loop().catch(() => {});
  return {
    async stop() {
      abort.abort();
      await done;
    },
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** One probe: its exit code and output (stdout and stderr together, as dockerd keeps them); -1 when it timed out or could not run. */
async function probe(root: string, id: string, args: string[], timeoutMs: number, stop: AbortSignal): Promise<ProbeResult> {
  const start = new Date().toISOString();
  const chunks: Buffer[] = [];
  let size = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      // Only the first 4 KiB are kept; the rest is read and dropped so the probe never blocks on a full pipe.
      if (size < MAX_OUTPUT_BYTES) chunks.push(chunk);
      size += chunk.length;
      cb();
    },
  });
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = AbortSignal.any([timeout, stop]);
  let exitCode: number;
  let output: string;
  try {
    exitCode = await execInContainer(root, id, { args, streams: { stdout: sink, stderr: sink }, signal });
    output = Buffer.concat(chunks).toString('utf8');
  } catch (err) {
    exitCode = -1;
    output = isKilnError(err) ? err.message : String(err);
  }
  if (timeout.aborted) {
    exitCode = -1;
    output = `Health check exceeded timeout (${formatSeconds(timeoutMs)})`;
  }
  return { start, end: new Date().toISOString(), exitCode, output };
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
