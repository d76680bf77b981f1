/** Go's time.ParseDuration, for HEALTHCHECK flags (`30s`, `1m30s`, `1.5h`, `500ms`), in nanoseconds. */
import { KilnError } from '../errors.js';

const UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  μs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Parses a Go duration; throws DOCKERFILE_BAD_FLAG `time: invalid duration "x"`. */
export function parseGoDuration(text: string): number {
  const invalid = () => new KilnError('DOCKERFILE_BAD_FLAG', `time: invalid duration ${JSON.stringify(text)}`);
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw invalid();
  let total = 0;
  const re = /^(\d*)(?:\.(\d*))?([a-zµμ]+)/;
  while (s.length > 0) {
    const m = re.exec(s);
    if (!m || (m[1] === '' && (m[2] === undefined || m[2] === ''))) throw invalid();
    const unit = UNITS[m[3]!];
    if (unit === undefined) throw new KilnError('DOCKERFILE_BAD_FLAG', `time: unknown unit ${JSON.stringify(m[3])} in duration ${JSON.stringify(text)}`);
    const value = Number(`${m[1] || '0'}.${m[2] || '0'}`);
    total += value * unit;
    s = s.slice(m[0].length);
  }
  return sign * Math.round(total);
}
