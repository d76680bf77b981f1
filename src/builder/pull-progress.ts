/**
 * A FROM pull's registry TransferEvents as the builder's `pull` status updates: one per state change of a blob
 * (resolved, started, done, already there) and, while a layer downloads, its byte count at most every
 * `intervalMs` per layer. The registry client reports every coalesced MiB; a 500 MB base image would otherwise
 * put hundreds of events per layer into the JSON progress and the renderers.
 */
import type { TransferEvent } from '../registry/types.js';
import type { PullLayerProgress } from './types.js';

/** What a pull reports: a status line, and for a layer its progress (renderers show `1.2MB / 3.4MB`). */
export type PullStatusFn = (status: string, layer?: PullLayerProgress) => void;

/** Byte updates of one downloading layer are at most this often (ms) by default: tty redraws every 100 ms. */
const PULL_PROGRESS_INTERVAL_MS = 200;

/**
 * Returns a TransferEvent handler that calls `onStatus`. `now` is injectable for tests. Config and manifest
 * blobs report only their end (they are small); layers report start, throttled bytes and end.
 */
export function pullStatusHandler(onStatus: PullStatusFn, opts: { intervalMs?: number; now?: () => number } = {}): (e: TransferEvent) => void {
  const interval = opts.intervalMs ?? PULL_PROGRESS_INTERVAL_MS;
  const now = opts.now ?? Date.now;
  const last = new Map<string, number>();
  return (e) => {
    if (e.type === 'resolved') {
      onStatus(`resolved ${e.digest}`);
      return;
    }
    if (e.type !== 'blob') return;
    const short = e.digest.slice(7, 19);
    const layer: PullLayerProgress = { digest: e.digest, current: e.current, total: e.size, state: 'downloading' };
    if (e.status === 'done' || e.status === 'exists') {
      last.delete(e.digest);
      onStatus(`${e.kind} ${short} ${e.status}`, e.kind === 'layer' ? { ...layer, current: e.size, state: e.status } : undefined);
      return;
    }
    if (e.status === 'retrying') {
      last.delete(e.digest);
      onStatus(`${e.kind} ${short} retrying`);
      return;
    }
    if (e.kind !== 'layer' || e.status !== 'downloading') return;
    const t = now();
    const prev = last.get(e.digest);
    // The first event of a layer always goes out (it starts the line); the final byte count comes with `done`.
    if (prev !== undefined && t - prev < interval) return;
    last.set(e.digest, t);
    onStatus(`layer ${short} downloading`, layer);
  };
}
