// Two builds side by side: steps paired by stage and position (then by instruction text), each row saying what
// changed — the instruction, the cache outcome, the time — and, for a step that ran in one and not the other, why
// (the miss reason the later build recorded).
import { h, mount } from './dom.js';
import { getBuild } from './api.js';
import { duration, elapsed, percent, cacheRatio, shortId } from './format.js';

function stageName(rec, label) {
  return rec.stages?.find((s) => s.label === label)?.name ?? label ?? '';
}

/** Pairs steps: same stage name and index first, then same text among the leftovers. */
export function pairSteps(a, b) {
  const key = (rec, st) => `${stageName(rec, st.stage)}\u0000${st.index}`;
  const bBy = new Map((b.steps ?? []).map((st) => [key(b, st), st]));
  const used = new Set();
  const pairs = [];
  for (const sa of a.steps ?? []) {
    let sb = bBy.get(key(a, sa));
    if (sb && sb.text !== sa.text) {
      const same = (b.steps ?? []).find((x) => !used.has(x) && x.text === sa.text && stageName(b, x.stage) === stageName(a, sa.stage));
      if (same) sb = same;
    }
    if (sb && used.has(sb)) sb = undefined;
    if (sb) used.add(sb);
    pairs.push([sa, sb]);
  }
  for (const sb of b.steps ?? []) if (!used.has(sb)) pairs.push([undefined, sb]);
  return pairs;
}

function change(sa, sb) {
  if (!sa) return 'only in B';
  if (!sb) return 'only in A';
  if (sa.text !== sb.text) return 'instruction changed';
  if (sa.status !== sb.status) return sb.status === 'executed' || sb.status === 'failed' ? `ran in B: ${sb.missReason ?? 'cache miss'}` : `${sa.status} → ${sb.status}`;
  return '';
}

export async function renderCompare(app, idA, idB, signal) {
  const [a, b] = await Promise.all([getBuild(idA, { signal }), getBuild(idB, { signal })]);
  const cell = (rec, st) => (st ? [h('td', {}, h('code', {}, st.text)), h('td', {}, h('span', { class: `badge ${st.status}` }, st.status)), h('td', { class: 'num' }, duration(elapsed(st)))] : [h('td', { colspan: 3, class: 'muted' }, '—')]);
  const rows = pairSteps(a, b).map(([sa, sb]) => {
    const what = change(sa, sb);
    return h('tr', { class: what ? 'changed' : undefined, 'data-changed': what ? 'true' : 'false' }, h('td', {}, stageName(sa ? a : b, (sa ?? sb).stage)), cell(a, sa), cell(b, sb), h('td', {}, what));
  });
  const link = (rec) => h('a', { href: `#/build/${encodeURIComponent(rec.id)}`, class: 'mono' }, shortId(rec.id));
  mount(
    app,
    h('div', { class: 'bar' }, h('h1', {}, 'Compare builds'), h('a', { href: '#/' }, '← all builds')),
    h('p', {}, 'A: ', link(a), ` ${a.status}, ${duration(elapsed(a))}, ${percent(cacheRatio(a))} cached — B: `, link(b), ` ${b.status}, ${duration(elapsed(b))}, ${percent(cacheRatio(b))} cached`),
    h(
      'table',
      { class: 'list compare', id: 'compare' },
      h('thead', {}, h('tr', {}, ['Stage', 'A: step', 'A', 'took', 'B: step', 'B', 'took', 'What changed'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows),
    ),
  );
}
