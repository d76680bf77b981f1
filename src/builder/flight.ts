/**
 * Identical concurrent work runs once: a map from a cache key to the promise of its result. Two stages (or two
 * builds on one builder, the server's case) asking for the same step share one execution; the entry is removed
 * when it settles, so a failure is not cached and a later request runs again.
 */
import { KilnError } from '../errors.js';

export interface FlightMap<T> {
  /**
   * Runs `fn` under `key`, or joins the run already in flight. `signal` is the caller's: when it aborts, a caller
   * that joined stops waiting at once (CANCELLED) while the owner's run goes on for the others; the owner's own
   * cancellation is `fn`'s business.
   */
  run(key: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T>;
  readonly size: number;
}

export function createFlightMap<T>(): FlightMap<T> {
  const inFlight = new Map<string, Promise<T>>();
  return {
    run(key, fn, signal) {
      const existing = inFlight.get(key);
      if (existing) return signal ? untilAborted(existing, signal) : existing;
      const p = fn().finally(() => inFlight.delete(key));
      inFlight.set(key, p);
      return p;
    },
    get size() {
      return inFlight.size;
    },
  };
}

/** `p`, or a CANCELLED rejection as soon as `signal` aborts (whichever comes first). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new KilnError('CANCELLED', 'build cancelled'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new KilnError('CANCELLED', 'build cancelled'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
