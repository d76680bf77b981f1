/**
 * Sizes and durations the way Docker prints them (go-units): `1.05MB` (decimal, 3 significant digits),
 * `About an hour ago`, `3 days ago`; and the parsers for `--keep-storage 10GB` and `until=24h`.
 */
import { humanDuration } from '../containers/human-duration.js';
import { KilnError } from '../errors.js';

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];

/** `1.05MB`: decimal units with three significant digits, as `docker images` shows SIZE. */
export function humanSize(bytes: number): string {
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Number(v.toPrecision(3))}${UNITS[i]}`;
}

/** go-units HumanDuration, one copy for the CLI and the server (src/containers/human-duration.ts). */
export { humanDuration };

/** `3 days ago` from an ISO time; `N/A` when missing. */
export function humanSince(iso: string | undefined, now = Date.now()): string {
  const t = Date.parse(iso ?? '');
  return Number.isNaN(t) ? 'N/A' : `${humanDuration(Math.max(0, now - t))} ago`;
}

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*([kmgtp]?i?b?)?$/i;
const FACTORS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  p: 1e15,
  pb: 1e15,
  kib: 1024,
  ki: 1024,
  mib: 1024 ** 2,
  mi: 1024 ** 2,
  gib: 1024 ** 3,
  gi: 1024 ** 3,
  tib: 1024 ** 4,
  ti: 1024 ** 4,
};

/** Parses `512MB`, `10GiB`, `1024` (bytes); throws INVALID_ARGUMENT naming the text. */
export function parseSize(text: string): number {
  const m = SIZE_RE.exec(text.trim());
  const f = m ? FACTORS[(m[2] ?? '').toLowerCase()] : undefined;
  if (!m || f === undefined) throw new KilnError('INVALID_ARGUMENT', `invalid size "${text}"`, { hint: 'sizes look like 512MB, 10GB, 2GiB' });
  return Math.floor(Number(m[1]) * f);
}

/** Parses Go-style durations `24h`, `90m`, `1h30m`, `10s`, `0`; returns milliseconds. */
export function parseDuration(text: string): number {
  const t = text.trim();
  if (t === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let m: RegExpExecArray | null;
  let consumed = 0;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  while ((m = re.exec(t))) {
    total += Number(m[1]) * unit[m[2]!]!;
    consumed = re.lastIndex;
  }
  if (consumed !== t.length || consumed === 0) {
    throw new KilnError('INVALID_ARGUMENT', `invalid duration "${text}"`, { hint: 'durations look like 24h, 90m, 1h30m, 10s' });
  }
  return total;
}

/** Left-aligned columns separated by three spaces, as Docker's tabwriter prints tables. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows)
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, c.length);
    });
  return (
    rows
      .map((r) =>
        r
          .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3)))
          .join('')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}
