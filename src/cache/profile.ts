/**
 * An opt-in phase timer for the build's hot paths (bench/profile-run.ts reads it). `KILN_PROFILE=FILE` in the
 * environment of the process that builds (with the resident builder: the daemon's, so profile with
 * KILN_DAEMON=0) appends one JSON line per timed phase to FILE: `{"step":"…","phase":"…","ms":1.23}`.
 *
 * Off (the default), `phase()` is a call of `fn` and `inStep()` a call of its body: no clock, no context, no
 * write. On, the current step travels in an AsyncLocalStorage so a phase deep in the sandbox or the store is
 * charged to the step that caused it, and each line is appended synchronously (a few µs, far below the ms
 * phases it measures, and nothing is lost when the process exits).
 *
 * It lives in cache/ because every folder that has a phase worth timing (cache, sandbox, exporter, builder)
 * may import cache/; layers/ may not, so its work (diff walk, tar, compression) is timed by its callers.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { appendFileSync } from 'node:fs';

const FILE = process.env.KILN_PROFILE || undefined;

/** True when KILN_PROFILE names a file: the hooks time their phases. */
export const profiling = FILE !== undefined;

const current = profiling ? new AsyncLocalStorage<string>() : undefined;

/** Appends one measurement (milliseconds) for `name`, charged to `step` or else the current step. */
export function record(name: string, ms: number, step?: string): void {
  if (!FILE) return;
  const line = JSON.stringify({ step: step ?? current?.getStore() ?? '', phase: name, ms: Math.round(ms * 1000) / 1000 });
  try {
    appendFileSync(FILE, `${line}\n`);
  } catch {
    // A profile that cannot be written never fails a build.
  }
}

/** Milliseconds since `start` (a `clock()` value), recorded as `name` (for `step`, else the current one). */
export function since(name: string, start: number, step?: string): void {
  if (FILE) record(name, performance.now() - start, step);
}

/** The clock for `since()` when profiling, else 0 (never read). */
export function clock(): number {
  return FILE ? performance.now() : 0;
}

/** Runs `fn`, timing it as `name` when profiling (also when it throws). */
export function phase<T>(name: string, fn: () => Promise<T>): Promise<T> {
  if (!FILE) return fn();
  const t = performance.now();
  return fn().finally(() => record(name, performance.now() - t));
}

/** Runs `fn` with every phase inside it charged to `step` (a step's text, or `build`, `export`, …). */
export function inStep<T>(step: string, fn: () => Promise<T>): Promise<T> {
  if (!current) return fn();
  return current.run(step, fn);
}
