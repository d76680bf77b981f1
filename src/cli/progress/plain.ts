/**
 * `--progress plain`: buildx's line format. Every line of a step starts with `#N`; output lines carry the time
 * since the step started; cached steps print `CACHED`, and with `--explain` (or always in plain mode) a missed
 * step prints `cache miss: <why>`.
 */
import type { Writable } from 'node:stream';
import type { BuildEvent, PullLayerProgress } from '../../builder/types.js';
import { layerBytes, seconds, stepLabel, type ProgressRenderer } from './types.js';

/** Plain output prints a downloading layer's byte count at most this often (ms). */
const PLAIN_LAYER_INTERVAL_MS = 1000;

/** Renders events as buildx's plain progress on `out` (stderr in the CLI). */
export function createPlainRenderer(out: Writable): ProgressRenderer {
  const started = new Map<number, number>();
  const partial = new Map<number, string>();
  const write = (s: string) => out.write(s);
  const flushPartial = (id: number) => {
    const rest = partial.get(id);
    if (rest) write(`#${id} ${seconds(Date.now() - (started.get(id) ?? Date.now()))} ${rest}\n`);
    partial.delete(id);
  };
  // A pulled layer's byte count, buildx-style (`#0 sha256:… 1.2MB / 3.4MB 0.5s`): at most one line a second per
  // layer, so a slow pull adds a line a second to a log, not one per MiB; its end always prints.
  const layerSeen = new Map<string, { start: number; printed: number }>();
  const pullLayer = (l: PullLayerProgress) => {
    const t = Date.now();
    let seen = layerSeen.get(l.digest);
    if (l.state === 'exists') {
      write(`#0 ${l.digest} already exists\n`);
      return;
    }
    if (l.state === 'downloading' && seen && t - seen.printed < PLAIN_LAYER_INTERVAL_MS) return;
    if (!seen) layerSeen.set(l.digest, (seen = { start: t, printed: t }));
    seen.printed = t;
    write(`#0 ${layerBytes(l)} ${seconds(t - seen.start)}${l.state === 'done' ? ' done' : ''}\n`);
  };
  return {
    onEvent(e: BuildEvent) {
      switch (e.type) {
        case 'step-start':
          started.set(e.step.id, Date.now());
          write(`\n#${e.step.id} ${stepLabel(e.step)} ${e.step.text}\n`);
          break;
        case 'step-cached':
          // An imported cache's hit says which (the local cache missed): what --explain users look for.
          write(e.source ? `#${e.step.id} CACHED (imported from ${e.source}; not in the local cache)\n` : `#${e.step.id} CACHED\n`);
          break;
        case 'step-miss-reason':
          write(`#${e.step.id} cache miss: ${e.reason}\n`);
          break;
        case 'step-output': {
          const text = (partial.get(e.step.id) ?? '') + e.data;
          const lines = text.split('\n');
          partial.set(e.step.id, lines.pop() ?? '');
          const t = seconds(Date.now() - (started.get(e.step.id) ?? Date.now()));
          for (const line of lines) write(`#${e.step.id} ${t} ${line}\n`);
          break;
        }
        case 'step-done':
          flushPartial(e.step.id);
          write(`#${e.step.id} DONE ${seconds(e.durationMs)}\n`);
          break;
        case 'step-error':
          flushPartial(e.step.id);
          write(`#${e.step.id} ERROR: ${e.message}\n`);
          break;
        case 'pull':
          if (e.layer) pullLayer(e.layer);
          else write(`#0 ${e.ref}: ${e.status}\n`);
          break;
        case 'export':
          write(`#0 ${e.status}\n`);
          break;
        case 'warning':
          write(`WARNING: ${e.loc ? `${e.loc.file}:${e.loc.line}: ` : ''}${e.message}\n`);
          break;
        case 'build-start':
        case 'build-done':
          break;
      }
    },
    close() {
      for (const id of [...partial.keys()]) flushPartial(id);
    },
  };
}
