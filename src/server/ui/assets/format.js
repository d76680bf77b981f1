// Formatting shared by the views: durations, sizes, times, status labels.

export function duration(ms) {
  if (ms === undefined || ms === null || Number.isNaN(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${Math.round(s % 60)}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

export function bytes(n) {
  if (n === undefined || n === null) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function when(ms) {
  if (!ms) return '–';
  const d = new Date(ms);
  const pad = (x) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Milliseconds a build or step took (running: so far). */
export function elapsed(x, now = Date.now()) {
  if (!x.start) return undefined;
  return (x.end ?? now) - x.start;
}

/** Steps that were served from cache (local or remote) or joined an identical running step. */
export function isCached(step) {
  return step.status === 'cached';
}

/** Share of steps (excluding FROM, which never runs) the cache answered: 0..1, or undefined with none. */
export function cacheRatio(rec) {
  const steps = (rec.steps ?? []).filter((st) => st.kind !== 'FROM' && st.status !== 'running' && st.status !== 'cancelled');
  if (!steps.length) return undefined;
  return steps.filter((st) => st.status === 'cached').length / steps.length;
}

export function percent(r) {
  return r === undefined ? '–' : `${Math.round(r * 100)}%`;
}

/** Who started a build, in a few words. */
export function who(origin) {
  if (!origin) return '–';
  const parts = [];
  if (origin.identity) parts.push(origin.identity);
  if (origin.user) parts.push(origin.user);
  if (origin.address) parts.push(origin.address);
  if (!parts.length && origin.host) parts.push(origin.host);
  return `${parts.join(' @ ') || origin.kind}${origin.kind ? ` (${origin.kind})` : ''}`;
}

export function shortId(id) {
  return id ? id.slice(0, 12) : '';
}

export function stepLabel(step) {
  return `#${step.id} ${step.text}`;
}
