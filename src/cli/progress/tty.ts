/**
 * `--progress tty`: buildx's live view. A header with the elapsed time and finished/total steps, one line per
 * step with its timer, and under each running step the last few lines of its output. Redrawn every 100 ms in
 * place (cursor up, clear); finished output scrolls away, errors keep their tail.
 */
import type { Writable } from 'node:stream';
import type { BuildEvent, StepRef } from '../../builder/types.js';
import { layerBytes, seconds, stepLabel, type ProgressRenderer } from './types.js';

const TAIL_LINES = 6;

interface Row {
  step: StepRef;
  start: number;
  end?: number;
  state: 'running' | 'done' | 'cached' | 'error';
  tail: string[];
  /** Output after the last newline, shown as the newest line until it is completed. */
  partial: string;
  reason?: string;
}

/** Renders events as a live-updating block on a terminal `out`. */
export function createTtyRenderer(out: Writable & { columns?: number }, opts: { explain?: boolean } = {}): ProgressRenderer {
  const began = Date.now();
  const rows: Row[] = [];
  const byId = new Map<number, Row>();
  // Pull and export lines, one per subject, updated in place (their latest status).
  const extras = new Map<string, string>();
  const extra: string[] = [];
  const setExtra = (subject: string, line: string) => {
    extras.set(subject, line);
    extra.splice(0, extra.length, ...extras.values());
  };
  let total = 0;
  let drawn = 0;
  const width = () => Math.max(40, (out.columns ?? 100) - 1);
  const clip = (s: string) => (s.length > width() ? `${s.slice(0, width() - 1)}…` : s);

  function render(final: boolean): void {
    const lines: string[] = [];
    const finished = rows.filter((r) => r.state !== 'running').length;
    lines.push(`[+] Building ${seconds(Date.now() - began)} (${finished}/${Math.max(total, rows.length)})${final ? ' FINISHED' : ''}`);
    for (const r of rows) {
      const t = r.state === 'cached' ? 'CACHED' : seconds((r.end ?? Date.now()) - r.start);
      const mark = r.state === 'error' ? ' ERROR' : '';
      const left = ` => ${stepLabel(r.step)} ${r.step.text}`;
      const right = ` ${t}${mark}`;
      const room = width() - right.length;
      lines.push(`${left.length > room ? `${left.slice(0, room - 1)}…` : left.padEnd(room)}${right}`);
      if (opts.explain && r.reason) lines.push(clip(r.state === 'cached' ? ` => => ${r.reason}` : ` => => cache miss: ${r.reason}`));
      if (r.state === 'running' || r.state === 'error') {
        const shown = r.partial ? [...r.tail, r.partial].slice(-TAIL_LINES) : r.tail;
        for (const l of shown) lines.push(clip(` => => # ${l}`));
      }
    }
    for (const l of extra) lines.push(clip(` => ${l}`));
    let s = drawn > 0 ? `\x1b[${drawn}A` : '';
    for (const l of lines) s += `\x1b[2K${l}\n`;
    // Clear what the previous, taller frame left below (finished steps drop their output lines).
    out.write(`${s}\x1b[J`);
    drawn = lines.length;
  }

  const timer = setInterval(() => render(false), 100);
  timer.unref();

  function row(step: StepRef): Row {
    let r = byId.get(step.id);
    if (!r) {
      r = { step, start: Date.now(), state: 'running', tail: [], partial: '' };
      byId.set(step.id, r);
      rows.push(r);
    }
    return r;
  }

  return {
    onEvent(e: BuildEvent) {
      switch (e.type) {
        case 'build-start':
          total = e.steps;
          break;
        case 'step-start':
          row(e.step);
          break;
        case 'step-cached': {
          const r = row(e.step);
          r.state = 'cached';
          r.end = Date.now();
          if (e.source) r.reason = `imported from ${e.source}`;
          break;
        }
        case 'step-miss-reason':
          row(e.step).reason = e.reason;
          break;
        case 'step-output': {
          const r = row(e.step);
          const parts = (r.partial + e.data).split('\n');
          r.partial = parts.pop() ?? '';
          r.tail = [...r.tail, ...parts].slice(-TAIL_LINES);
          break;
        }
        case 'step-done': {
          const r = row(e.step);
          r.state = 'done';
          r.end = Date.now();
          break;
        }
        case 'step-error': {
          const r = row(e.step);
          r.state = 'error';
          r.end = Date.now();
          break;
        }
        case 'pull':
          // One line per layer under the ref's line, updated in place (redraws are every 100 ms anyway).
          if (e.layer)
            setExtra(
              `pull ${e.ref} ${e.layer.digest}`,
              `=> ${e.layer.state === 'exists' ? `${e.layer.digest} already exists` : `${layerBytes(e.layer)}${e.layer.state === 'done' ? ' done' : ''}`}`,
            );
          else setExtra(`pull ${e.ref}`, `pulling ${e.ref}: ${e.status}`);
          break;
        case 'export':
          setExtra('export', e.status);
          break;
        case 'warning':
          setExtra(`warning ${e.message}`, `WARNING: ${e.message}`);
          break;
        case 'build-done':
          break;
      }
    },
    close() {
      clearInterval(timer);
      render(true);
    },
  };
}
