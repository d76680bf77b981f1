/**
 * Structured logs: one JSON line per request and per build, with durations. Callers pass plain facts; only keys
 * on the allow-list below are written, so a credential passed by mistake (a header, a build arg) never reaches
 * the log.
 */
import type { Writable } from 'node:stream';

export type LogFields = Record<string, string | number | boolean | string[] | undefined | null>;

export interface Logger {
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

const ALLOWED = new Set([
  'method',
  'path',
  'status',
  'durationMs',
  'remote',
  'bytesIn',
  'bytesOut',
  'id',
  'tags',
  'outcome',
  'error',
  'code',
  'stepsExecuted',
  'stepsCached',
  'queuedMs',
  'imageId',
  'listen',
  'reason',
  'running',
  'queued',
  'version',
  'image',
  'container',
  'contextBytes',
]);

/** Writes JSON lines to `out` (stderr by default); `quiet` drops info lines. */
export function createLogger(opts: { out?: Writable; quiet?: boolean } = {}): Logger {
  const out = opts.out ?? process.stderr;
  const write = (level: string, msg: string, fields: LogFields = {}) => {
    const line: Record<string, unknown> = { time: new Date().toISOString(), level, msg };
    for (const [k, v] of Object.entries(fields)) if (ALLOWED.has(k) && v !== undefined) line[k] = v;
    out.write(`${JSON.stringify(line)}\n`);
  };
  return {
    info: (m, f) => {
      if (!opts.quiet) write('info', m, f);
    },
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
  };
}

/** The request path without its query string (queries carry build args, which may be secrets). */
export function logPath(url: string | undefined): string {
  return (url ?? '').split('?')[0].slice(0, 300);
}
