// The build list: one row per record, newest first, with status, duration, cache ratio, who and tags. While a
// build runs the list polls every second (records of running builds are rewritten as they go); otherwise every
// five. Two ticked rows open the comparison.
import { h, mount } from './dom.js';
import { listBuilds } from './api.js';
import { bytes, cacheRatio, duration, elapsed, percent, shortId, when, who } from './format.js';

const FAST_MS = 1000;
const SLOW_MS = 5000;

function row(rec, picked, onPick) {
  const tags = rec.tags?.length ? rec.tags.join(', ') : rec.target ? `target ${rec.target}` : '';
  const steps = rec.steps ?? [];
  return h(
    'tr',
    { 'data-id': rec.id, 'data-status': rec.status, class: `build status-${rec.status}` },
    h('td', {}, h('input', { type: 'checkbox', 'aria-label': `select ${rec.id} to compare`, checked: picked.has(rec.id), onchange: (e) => onPick(rec.id, e.target.checked) })),
    h('td', {}, h('span', { class: `badge ${rec.status}` }, rec.status)),
    h('td', {}, h('a', { href: `#/build/${encodeURIComponent(rec.id)}`, class: 'mono' }, shortId(rec.id))),
    h('td', { class: 'tags' }, tags, rec.error ? h('div', { class: 'error small' }, rec.error.message.split('\n')[0]) : null),
    h('td', {}, when(rec.start)),
    h('td', { class: 'num' }, duration(elapsed(rec))),
    h('td', { class: 'num', title: `${steps.filter((st) => st.status === 'cached').length} of ${steps.length} steps cached` }, percent(cacheRatio(rec))),
    h('td', { class: 'num' }, steps.length),
    h('td', {}, who(rec.origin)),
    h('td', { class: 'num' }, bytes(rec.sizeBytes)),
  );
}

export async function renderList(app, signal) {
  const picked = new Set();
  const table = h('tbody');
  const compare = h('button', { type: 'button', disabled: true, onclick: () => (location.hash = `#/compare/${[...picked].map(encodeURIComponent).join('/')}`) }, 'Compare two builds');
  const summary = h('p', { class: 'muted', id: 'list-summary' });
  let recs = [];
  const onPick = (id, on) => {
    if (on) picked.add(id);
    else picked.delete(id);
    compare.disabled = picked.size !== 2;
  };
  const draw = () => {
    performance.mark('draw-start');
    mount(table, recs.map((r) => row(r, picked, onPick)));
    const running = recs.filter((r) => r.status === 'running').length;
    summary.textContent = `${recs.length} build${recs.length === 1 ? '' : 's'}${running ? `, ${running} running (updating live)` : ''}`;
    performance.measure('draw', 'draw-start');
  };
  performance.mark('fetch-start');
  recs = await listBuilds({ signal });
  performance.measure('fetch+parse', 'fetch-start');
  mount(
    app,
    h('section', {}, h('div', { class: 'bar' }, h('h1', {}, 'Builds'), compare), summary),
    h(
      'table',
      { class: 'list', id: 'builds' },
      h('thead', {}, h('tr', {}, ['', 'Status', 'Build', 'Tags / target', 'Started', 'Duration', 'Cached', 'Steps', 'Who', 'Record'].map((t) => h('th', { scope: 'col' }, t)))),
      table,
    ),
  );
  draw();
  if (!recs.length) mount(table, h('tr', {}, h('td', { colspan: 10, class: 'muted' }, 'No builds recorded yet.')));
  // Poll until the view is left (the router aborts `signal`).
  const tick = async () => {
    if (signal.aborted) return;
    try {
      recs = await listBuilds({ signal });
      draw();
    } catch {
      // a transient failure: try again on the next tick
    }
    if (!signal.aborted) setTimeout(() => void tick(), recs.some((r) => r.status === 'running') ? FAST_MS : SLOW_MS);
  };
  setTimeout(() => void tick(), recs.some((r) => r.status === 'running') ? FAST_MS : SLOW_MS);
}
