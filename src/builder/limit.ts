/**
 * Runs work through the builder's p-queue, cancellable only while it waits. p-queue's own `signal` also races a
 * running task against the abort and rejects at once, while the task (a RUN's container) is still tearing down:
 * `build()` then rejected with the rootfs still mounted. A started task is left to finish its own clean-up; it
 * sees the build's signal itself (the executor kills the container and unmounts before it settles).
 */
import type PQueue from 'p-queue';

/** `fn` through `queue`: rejects with the signal's reason if aborted before it started, else settles with `fn`. */
export function queuedRun<T>(queue: PQueue, fn: () => Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  let started = false;
  const waiting = new AbortController();
  const onAbort = () => {
    if (!started) waiting.abort(signal.reason);
  };
  signal.addEventListener('abort', onAbort, { once: true });
  const task = queue.add(
    () => {
      started = true;
      return fn();
    },
    { signal: waiting.signal },
  ) as Promise<T>;
  return task.finally(() => signal.removeEventListener('abort', onAbort));
}
