// One build: its summary, the timeline, the cache summary with each miss's reason, the Dockerfile with the failing
// line marked, per-step logs and the result's layers. A running build's record is polled every second and the
// timeline and summaries redrawn; the log view and layers are left alone (they stream on their own).
import { h, mount } from './dom.js';
import { getBuild, getDockerfile } from './api.js';
import { bytes, cacheRatio, duration, elapsed, percent, when, who } from './format.js';
import { renderTimeline } from './timeline.js';
import { renderDockerfile } from './dockerfile.js';
import { createLogView } from './logs.js';
import { renderLayers } from './layers.js';

function summary(rec) {
  const r = rec.result;
  const rows = [
    ['Status', h('span', { class: `badge ${rec.status}`, id: 'build-status' }, rec.status)],
    ['Started', when(rec.start)],
    ['Duration', duration(elapsed(rec))],
    ['Who', who(rec.origin)],
    ['Dockerfile', `${rec.dockerfile?.name ?? ''}`],
    rec.target ? ['Target', rec.target] : null,
    ['Platforms', (rec.platforms ?? []).join(', ') || '–'],
    ['Tags', (rec.tags ?? []).join(', ') || '–'],
    Object.keys(rec.buildArgs ?? {}).length ? ['Build args', Object.entries(rec.buildArgs).map(([k, v]) => `${k}=${v}`).join(' ')] : null,
    r ? ['Image', h('code', {}, r.imageId)] : null,
    r?.pushes?.length ? ['Pushed', r.pushes.join(', ')] : null,
    rec.error ? ['Error', h('span', { class: 'error', id: 'build-error' }, `${rec.error.loc ? `${rec.error.loc.file}:${rec.error.loc.line}: ` : ''}${rec.error.message}`)] : null,
  ].filter(Boolean);
  return h('dl', { class: 'summary' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

function cacheSummary(rec, onSelect) {
  // FROM steps resolve a base image and never hit or miss the cache: leave them out of the counts, as of the ratio.
  const steps = (rec.steps ?? []).filter((x) => x.kind !== 'FROM');
  const count = (s) => steps.filter((x) => x.status === s).length;
  const misses = steps.filter((x) => (x.status === 'executed' || x.status === 'failed'));
  return h(
    'div',
    { id: 'cache-summary' },
    h('p', {}, `${percent(cacheRatio(rec))} cached — ${count('cached')} cached, ${count('executed')} executed, ${count('shared')} shared, ${count('failed')} failed${count('running') ? `, ${count('running')} running` : ''}`),
    misses.length
      ? h(
          'table',
          { class: 'list misses' },
          h('thead', {}, h('tr', {}, ['Step', 'Instruction', 'Why it ran', 'Took', 'Layer'].map((t) => h('th', { scope: 'col' }, t)))),
          h(
            'tbody',
            {},
            misses.map((st) =>
              h(
                'tr',
                { 'data-step': st.id },
                h('td', {}, h('button', { type: 'button', class: 'link', onclick: () => onSelect(st) }, `#${st.id}`)),
                h('td', {}, h('code', {}, st.text)),
                h('td', {}, st.missReason ?? '–'),
                h('td', { class: 'num' }, duration(elapsed(st))),
                h('td', { class: 'num' }, bytes(st.bytesWritten)),
              ),
            ),
          ),
        )
      : h('p', { class: 'muted' }, 'Every step came from the cache.'),
  );
}

export async function renderBuild(app, id, signal) {
  let rec = await getBuild(id, { signal });
  const logs = createLogView(rec);
  signal.addEventListener('abort', () => logs.close());
  const select = (st) => {
    void logs.show(st);
    logs.el.scrollIntoView({ block: 'nearest' });
  };
  const head = h('div');
  const timeline = h('section', { id: 'timeline-section' });
  const cache = h('section');
  const dockerfile = h('section', {}, h('h2', {}, 'Dockerfile'), h('p', { class: 'muted' }, 'Loading…'));
  const layers = h('section', { id: 'layers' }, h('p', { class: 'muted' }, 'Loading…'));
  const draw = () => {
    mount(
      head,
      h(
        'div',
        { class: 'bar' },
        h('h1', {}, `Build ${rec.id.slice(0, 12)}`),
        h('a', { href: '#/' }, '← all builds'),
      ),
      summary(rec),
    );
    mount(timeline, h('h2', {}, 'Timeline'), renderTimeline(rec, select));
    mount(cache, h('h2', {}, 'Cache'), cacheSummary(rec, select));
  };
  draw();
  mount(app, head, timeline, cache, dockerfile, logs.el, h('section', {}, h('h2', {}, 'Layers'), layers));
  getDockerfile(id, { signal }).then(
    (text) => mount(dockerfile, h('h2', {}, 'Dockerfile'), renderDockerfile(text, rec, select)),
    (err) => mount(dockerfile, h('h2', {}, 'Dockerfile'), h('p', { class: 'muted' }, `Not recorded: ${err.message}`)),
  );
  // The step to show first: the failed one, else the last with output, else the last that is not a FROM.
  const first = rec.steps?.find((st) => st.id === rec.error?.step) ?? [...(rec.steps ?? [])].reverse().find((st) => st.logBytes > 0 || st.status === 'running') ?? [...(rec.steps ?? [])].reverse().find((st) => st.kind !== 'FROM') ?? rec.steps?.[0];
  if (first) void logs.show(first);
  if (rec.status !== 'running') void renderLayers(layers, rec, signal);
  while (rec.status === 'running' && !signal.aborted) {
    await new Promise((r) => setTimeout(r, 1000));
    if (signal.aborted) return;
    try {
      rec = await getBuild(id, { signal });
      draw();
      if (rec.status !== 'running') void renderLayers(layers, rec, signal);
    } catch {
      // a transient failure: the next tick tries again
    }
  }
}
