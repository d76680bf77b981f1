/** A progress renderer: turns the builder's BuildEvents into terminal output (the builder itself never prints). */
import type { BuildEvent, PullLayerProgress, StepRef } from '../../builder/types.js';
import { humanSize } from '../human-units.js';

export interface ProgressRenderer {
  onEvent(e: BuildEvent): void;
  /** Flushes and stops timers; `err` is the build's failure, if any. */
  close(err?: unknown): void;
}

export type ProgressMode = 'auto' | 'tty' | 'plain' | 'json' | 'quiet';

/** `[stage i/n]` as buildx prints it; the final unnamed stage shows just `[i/n]`. */
export function stepLabel(step: StepRef): string {
  return step.stage ? `[${step.stage} ${step.index}/${step.total}]` : `[${step.index}/${step.total}]`;
}

/** Seconds with one decimal, as buildx prints durations. */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** `sha256:… 1.2MB / 3.4MB`: a pulled layer's digest and bytes, as buildx prints them. */
export function layerBytes(l: PullLayerProgress): string {
  return `${l.digest} ${humanSize(l.current)} / ${humanSize(l.total)}`;
}
