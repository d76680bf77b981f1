// The build's timeline as SVG: one lane per stage (per platform in a multi-platform build), one bar per step placed
// by its start and end, so stages that ran in parallel sit side by side in time. Cached steps are hatched and
// labelled, the critical path (the chain of steps that held up the end: walking back from the last step to end,
// each time to the predecessor — the previous step of its stage or the last step of a stage it reads — that
// ended last) is outlined. Every bar carries data-step/-stage/-start/-end/-cached for tests and tools.
import { s, h } from './dom.js';
import { duration } from './format.js';

const LANE_H = 28;
const LABEL_W = 170;
const WIDTH = 1100;
const AXIS_H = 22;

/** The stages in Dockerfile order (by platform first), plus a lane for any step whose stage has no record. */
export function lanes(rec) {
  const out = [...(rec.stages ?? [])].sort((a, b) => (a.platform ?? '').localeCompare(b.platform ?? '') || a.index - b.index);
  const known = new Set(out.map((st) => st.label));
  for (const step of rec.steps ?? []) {
    if (!known.has(step.stage)) {
      known.add(step.stage);
      out.push({ label: step.stage, name: step.stage || 'build', index: out.length, platform: '', dependsOn: [] });
    }
  }
  return out;
}

/** Step ids on the critical path, from the step that ended last back to the build's start. */
export function criticalPath(rec, now = Date.now()) {
  const steps = (rec.steps ?? []).filter((st) => st.start);
  if (!steps.length) return new Set();
  const end = (st) => st.end ?? now;
  const byStage = new Map();
  for (const st of steps) {
    if (!byStage.has(st.stage)) byStage.set(st.stage, []);
    byStage.get(st.stage).push(st);
  }
  for (const list of byStage.values()) list.sort((a, b) => a.index - b.index || a.start - b.start);
  const deps = new Map((rec.stages ?? []).map((st) => [st.label, st.dependsOn ?? []]));
  const path = new Set();
  let cur = steps.reduce((a, b) => (end(b) > end(a) ? b : a));
  // A dependency ends before its dependant starts; allow for clock granularity between the two timestamps.
  const SLACK = 5;
  while (cur && !path.has(cur.id)) {
    path.add(cur.id);
    const own = byStage.get(cur.stage);
    const i = own.indexOf(cur);
    const candidates = i > 0 ? [own[i - 1]] : [];
    for (const dep of deps.get(cur.stage) ?? []) {
      const ds = byStage.get(dep);
      if (ds?.length) {
        const done = ds.filter((x) => end(x) <= cur.start + SLACK);
        if (done.length) candidates.push(done.reduce((a, b) => (end(b) > end(a) ? b : a)));
      }
    }
    cur = candidates.length ? candidates.reduce((a, b) => (end(b) > end(a) ? b : a)) : undefined;
  }
  return path;
}

function ticks(span) {
  const target = span / 8;
  const steps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_800_000, 3_600_000];
  return steps.find((x) => x >= target) ?? target;
}

/** The SVG timeline; `onSelect(step)` when a bar is clicked or activated with the keyboard. */
export function renderTimeline(rec, onSelect, now = Date.now()) {
  const rows = lanes(rec);
  const steps = (rec.steps ?? []).filter((st) => st.start);
  const t0 = Math.min(rec.start ?? Infinity, ...steps.map((st) => st.start));
  const t1 = Math.max(rec.end ?? 0, ...steps.map((st) => st.end ?? now), t0 + 1);
  const span = t1 - t0;
  const plot = WIDTH - LABEL_W - 10;
  const x = (t) => LABEL_W + ((t - t0) / span) * plot;
  const height = AXIS_H + rows.length * LANE_H + 6;
  const crit = criticalPath(rec, now);
  const laneOf = new Map(rows.map((r, i) => [r.label, i]));

  const svg = s('svg', {
    class: 'timeline',
    id: 'timeline',
    viewBox: `0 0 ${WIDTH} ${height}`,
    width: WIDTH,
    height,
    role: 'img',
    'aria-label': `Timeline of ${steps.length} steps in ${rows.length} stages over ${duration(span)}`,
  });
  svg.append(
    s(
      'defs',
      {},
      s(
        'pattern',
        { id: 'hatch', width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' },
        s('rect', { width: 6, height: 6, class: 'hatch-bg' }),
        s('line', { x1: 0, y1: 0, x2: 0, y2: 6, class: 'hatch-line' }),
      ),
    ),
  );
  const tick = ticks(span);
  for (let t = 0; t <= span; t += tick) {
    svg.append(s('line', { x1: x(t0 + t), x2: x(t0 + t), y1: AXIS_H - 4, y2: height, class: 'grid' }));
    svg.append(s('text', { x: x(t0 + t) + 2, y: AXIS_H - 8, class: 'axis' }, duration(t)));
  }
  rows.forEach((r, i) => {
    const y = AXIS_H + i * LANE_H;
    svg.append(s('rect', { x: 0, y, width: WIDTH, height: LANE_H, class: i % 2 ? 'lane odd' : 'lane' }));
    const label = `${r.platform && (rec.platforms ?? []).length > 1 ? `${r.platform} ` : ''}${r.name || r.label || 'build'}`;
    svg.append(s('text', { x: 6, y: y + LANE_H / 2 + 4, class: 'lane-label', 'data-stage': r.label }, label));
  });
  for (const st of steps) {
    const lane = laneOf.get(st.stage) ?? 0;
    const end = st.end ?? now;
    const bx = x(st.start);
    const bw = Math.max(2, x(end) - bx);
    const y = AXIS_H + lane * LANE_H + 4;
    const cached = st.status === 'cached';
    const cls = ['bar', `st-${st.status}`, cached ? 'cached' : '', crit.has(st.id) ? 'critical' : ''].filter(Boolean).join(' ');
    const g = s('g', {
      class: cls,
      tabindex: 0,
      role: 'button',
      'data-step': st.id,
      'data-stage': st.stage,
      'data-start': st.start,
      'data-end': end,
      'data-cached': cached ? 'true' : 'false',
      'data-critical': crit.has(st.id) ? 'true' : 'false',
      'aria-label': `step ${st.id} ${st.text}: ${st.status}, ${duration(end - st.start)}`,
      onclick: () => onSelect?.(st),
      onkeydown: (e) => {
        if (e.key === 'Enter' || e.key === ' ') onSelect?.(st);
      },
    });
    g.append(
      s('title', {}, `#${st.id} ${st.text}\n${st.status}${st.cache ? ` (${st.cache.kind}${st.cache.ref ? ` ${st.cache.ref}` : ''})` : ''} · ${duration(end - st.start)}${st.missReason ? `\nmiss: ${st.missReason}` : ''}`),
      s('rect', { x: bx, y, width: bw, height: LANE_H - 8, rx: 2 }),
    );
    const text = `${cached ? 'cached · ' : ''}${st.kind ?? ''} ${st.text.replace(/^\w+\s+/, '')}`;
    if (bw > 40) g.append(s('text', { x: bx + 4, y: y + LANE_H / 2 + 1, class: 'bar-label', 'clip-path': undefined }, text.length > bw / 6.5 ? `${text.slice(0, Math.max(0, Math.floor(bw / 6.5) - 1))}…` : text));
    svg.append(g);
  }
  const legend = h(
    'p',
    { class: 'legend muted' },
    h('span', { class: 'key executed' }), ' executed ',
    h('span', { class: 'key cached' }), ' cached ',
    h('span', { class: 'key failed' }), ' failed ',
    h('span', { class: 'key critical' }), ' critical path',
  );
  return h('div', { class: 'timeline-wrap' }, svg, legend);
}
