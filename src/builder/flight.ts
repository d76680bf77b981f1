/**
 * Identical concurrent work runs once: a map from a cache key to the promise of its result. Two stages (or two
 * builds on one builder, the server's case) asking for the same step share one execution; the entry is removed
 * when it settles, so a failure is not cached and a later request runs again.
 */
import { KilnError, isKilnError } from '../errors.js';

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

/** How `runOnce` got its value: it ran the work, joined a run in flight, or found it stored after all. */
export type OnceOutcome = 'ran' | 'joined' | 'stored';

export interface OnceWork<T> {
  /** The store, asked again inside the flight (the caller asked once before, without holding the key). */
  lookup(): Promise<T | undefined>;
  /**
   * Does the work: `value` is usable at once by the caller that ran it; `durable` settles when it is stored,
   * and only then does the flight end (so `lookup` finds it from then on, and callers that joined get it).
   */
  execute(): Promise<{ value: T; durable: Promise<void> }>;
  signal?: AbortSignal;
}

/**
 * `execute` at most once among concurrent callers of `key`, and not at all when the value was stored between the
 * caller's own lookup and its flight (the run that stored it has ended, so there is nothing to join): the store
 * is asked again under the key. A caller that joined a run its owner cancelled runs the work itself.
 */
export async function runOnce<T>(flight: FlightMap<T>, key: string, work: OnceWork<T>): Promise<{ value: T; outcome: OnceOutcome }> {
  let owner = false;
  const attempt = async (): Promise<{ value: T; outcome: OnceOutcome }> => {
    let outcome: OnceOutcome = 'joined';
    let early!: (value: T) => void;
    const own = new Promise<T>((resolve) => (early = resolve));
    const flown = flight.run(
      key,
      async () => {
        owner = true;
        const stored = await work.lookup();
        if (stored !== undefined) {
          outcome = 'stored';
          early(stored);
          return stored;
        }
        outcome = 'ran';
        const { value, durable } = await work.execute();
        early(value);
        await durable;
        return value;
      },
      work.signal,
    );
    if (!owner) return { value: await flown, outcome };
    // Once the owner has its value, a failure to store it is reported where `durable` is awaited, not here.
    flown.catch(() => {});
    return { value: await Promise.race([own, flown]), outcome };
  };
  try {
    return await attempt();
  } catch (err) {
    const ownerCancelled = (isKilnError(err) && err.code === 'CANCELLED') || (err as Error)?.name === 'AbortError';
    if (owner || !ownerCancelled || work.signal?.aborted) throw err;
    return attempt();
  }
}
