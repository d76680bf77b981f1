/**
 * Runs builds at most `concurrency` at a time (p-queue); the rest wait in order, and their clients are told so.
 * A waiting build whose client leaves is dropped from the queue without running. `drain()` lets the running and
 * queued builds finish, then aborts what is left after a grace period.
 */
import PQueue from 'p-queue';
import { KilnError } from '../errors.js';

export interface BuildQueue {
  /**
   * Runs `fn` when a slot is free. `onQueued(ahead)` is called once, before waiting, when no slot is free now.
   * Rejects with CANCELLED when `signal` aborts while waiting, and with SERVER_BUSY when the queue is full.
   */
  run<T>(fn: (signal: AbortSignal) => Promise<T>, opts: { signal: AbortSignal; onQueued?: (ahead: number) => void }): Promise<T>;
  readonly running: number;
  readonly queued: number;
  /** Resolves when nothing runs or waits; after `graceMs`, aborts what still runs and waits for it to unwind. */
  drain(graceMs: number): Promise<void>;
}

export function createBuildQueue(opts: { concurrency: number; maxQueued: number }): BuildQueue {
  const queue = new PQueue({ concurrency: Math.max(1, opts.concurrency) });
  const live = new Set<AbortController>();
  return {
    get running() {
      return queue.pending;
    },
    get queued() {
      return queue.size;
    },
    async run(fn, { signal, onQueued }) {
      if (queue.size >= opts.maxQueued) throw new KilnError('SERVER_BUSY', 'the build queue is full; try again later');
      if (queue.pending >= queue.concurrency) onQueued?.(queue.size + 1);
      try {
        return await queue.add(
          async () => {
            // One controller per build: the client's signal, or drain's deadline, aborts it.
            const ac = new AbortController();
            const forward = () => ac.abort(signal.reason);
            if (signal.aborted) forward();
            signal.addEventListener('abort', forward, { once: true });
            live.add(ac);
            try {
              return await fn(ac.signal);
            } finally {
              live.delete(ac);
              signal.removeEventListener('abort', forward);
            }
          },
          { signal },
        );
      } catch (err) {
        if (signal.aborted && !(err instanceof KilnError)) throw new KilnError('CANCELLED', 'build cancelled: the client went away', { cause: err });
        throw err;
      }
    },
    async drain(graceMs) {
      const idle = queue.onIdle();
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), graceMs)));
      if ((await Promise.race([idle.then(() => 'idle' as const), late])) === 'late') {
        queue.clear();
        for (const ac of live) ac.abort(new KilnError('CANCELLED', 'build cancelled: the server is shutting down'));
        await idle;
      }
      clearTimeout(timer);
    },
  };
}
