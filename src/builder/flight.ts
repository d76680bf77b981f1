/**
 * Identical concurrent work runs once: a map from a cache key to the promise of its result. Two stages (or two
 * builds on one builder, the server's case) asking for the same step share one execution; the entry is removed
 * when it settles, so a failure is not cached and a later request runs again.
 */
export interface FlightMap<T> {
  run(key: string, fn: () => Promise<T>): Promise<T>;
  readonly size: number;
}

export function createFlightMap<T>(): FlightMap<T> {
  const inFlight = new Map<string, Promise<T>>();
  return {
    run(key, fn) {
      const existing = inFlight.get(key);
      if (existing) return existing;
      const p = fn().finally(() => inFlight.delete(key));
      inFlight.set(key, p);
      return p;
    },
    get size() {
      return inFlight.size;
    },
  };
}
