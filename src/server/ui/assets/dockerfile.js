// The Dockerfile as the build read it, one numbered line per row, with the failing line marked (class
// `failing`, aria-invalid, and the error beside it) and each step's lines linked to its logs.
import { h } from './dom.js';

export function renderDockerfile(text, rec, onSelectStep) {
  const failLine = rec.error?.loc?.line;
  const stepAt = new Map();
  for (const st of rec.steps ?? []) if (st.loc?.line && !stepAt.has(st.loc.line)) stepAt.set(st.loc.line, st);
  const lines = text.replace(/\n$/, '').split('\n');
  const ol = h('ol', { class: 'dockerfile', id: 'dockerfile', 'aria-label': rec.dockerfile?.name ?? 'Dockerfile' });
  lines.forEach((line, i) => {
    const n = i + 1;
    const failing = n === failLine;
    const st = stepAt.get(n);
    ol.append(
      h(
        'li',
        { class: failing ? 'failing' : undefined, 'data-line': n, 'aria-invalid': failing ? 'true' : undefined, id: failing ? 'failing-line' : undefined },
        h('span', { class: 'ln', 'aria-hidden': 'true' }, n),
        h('code', {}, line || ' '),
        st ? h('button', { type: 'button', class: 'link small', onclick: () => onSelectStep(st), 'aria-label': `logs of step ${st.id}` }, `#${st.id}`) : null,
        failing ? h('div', { class: 'fail-note', role: 'alert' }, `✖ ${rec.error.message}${rec.error.exitCode !== undefined && !/exit code/.test(rec.error.message) ? ` (exit code ${rec.error.exitCode})` : ''}`) : null,
      ),
    );
  });
  return ol;
}
