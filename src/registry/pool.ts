/**
 * Runs `fn` over `items` with at most `limit` in flight. The first failure aborts the shared signal (so
 * transfers still running stop early) and is what the call rejects with, after every worker has settled:
 * no transfer keeps writing after pull or push has returned.
 */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, signal: AbortSignal) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  const ctl = new AbortController();
  const onAbort = (): void => ctl.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  let next = 0;
  let first: { err: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < items.length && !ctl.signal.aborted) {
      const item = items[next++]!;
      try {
        await fn(item, ctl.signal);
      } catch (err) {
        first ??= { err };
        ctl.abort(err);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  if (first) throw first.err;
}
