/**
 * Renders pull/push TransferEvents the way `docker pull` / `docker push` print them. On a terminal: one line per
 * layer redrawn in place (status, bar, bytes, rate), at most every 100 ms. Otherwise: a plain line per status
 * change only (`a1b2c3d4e5f6: Pull complete`), never per chunk, so logs stay short. Events carry no
 * credentials, so neither does the output.
 */
import type { Writable } from 'node:stream';
import type { TransferEvent } from '../../registry/types.js';

export interface TransferRenderer {
  onEvent(ev: TransferEvent): void;
  /** Draws the final state (TTY) and stops the timer. */
  close(): void;
}

interface Row {
  id: string;
  status: string;
  current: number;
  size: number;
  started: number;
  active: boolean;
}

/** `1.05MB`, decimal units as Docker prints them. */
export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)}${units[i]}`;
}

const LABELS: Record<'pull' | 'push', Partial<Record<string, string>>> = {
  pull: {
    waiting: 'Waiting',
    exists: 'Already exists',
    downloading: 'Downloading',
    verifying: 'Verifying Checksum',
    done: 'Pull complete',
    retrying: 'Retrying',
  },
  push: { waiting: 'Waiting', exists: 'Layer already exists', mounted: 'Mounted from', uploading: 'Pushing', done: 'Pushed', retrying: 'Retrying' },
};

/** A renderer for `mode` (pull or push) writing to `out`; `tty` picks the live view. */
export function createTransferRenderer(mode: 'pull' | 'push', out: Writable, tty: boolean): TransferRenderer {
  const rows = new Map<string, Row>();
  let drawn = 0;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const label = (status: string, message?: string): string => {
    const l = LABELS[mode][status] ?? status;
    return status === 'mounted' && message ? `${l} ${message.replace(/^from /, '')}` : l;
  };

  const line = (r: Row): string => {
    if (!r.active || r.size <= 0) return `${r.id}: ${r.status}`;
    const width = 40;
    const filled = Math.min(width, Math.floor((r.current / r.size) * width));
    const bar = `[${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? '>' : ''}${' '.repeat(width - filled)}]`;
    const secs = (Date.now() - r.started) / 1000;
    const rate = secs > 0.2 ? `  ${formatBytes(r.current / secs)}/s` : '';
    return `${r.id}: ${r.status.padEnd(12)} ${bar} ${formatBytes(r.current)}/${formatBytes(r.size)}${rate}`;
  };

  const draw = (): void => {
    let s = drawn > 0 ? `\x1b[${drawn}A` : '';
    for (const r of rows.values()) s += `\x1b[2K${line(r)}\n`;
    drawn = rows.size;
    out.write(s);
  };

  return {
    onEvent(ev) {
      if (closed || ev.type === 'resolved') return;
      if (ev.type === 'done') return;
      if (ev.kind === 'manifest' || (mode === 'pull' && ev.kind === 'config')) return;
      const id = ev.digest.replace(/^sha256:/, '').slice(0, 12);
      let r = rows.get(id);
      const status = label(ev.status, ev.message);
      let changed = true;
      if (!r) {
        r = { id, status, current: ev.current, size: ev.size, started: Date.now(), active: false };
        rows.set(id, r);
      } else changed = r.status !== status;
      r.status = status;
      r.current = ev.current;
      r.active = ev.status === 'downloading' || ev.status === 'uploading';
      if (tty) {
        timer ??= setInterval(draw, 100);
        if (changed) draw();
      } else if (changed) {
        out.write(`${id}: ${status}${ev.status === 'retrying' && ev.message ? ` (${ev.message})` : ''}\n`);
      }
    },
    close() {
      if (closed) return; // idempotent: the CLI closes on success and again in `finally`
      closed = true;
      if (timer) clearInterval(timer);
      timer = undefined;
      if (tty && rows.size) draw();
    },
  };
}
