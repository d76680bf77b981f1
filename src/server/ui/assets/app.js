// The page's router: `#/` the build list, `#/build/ID` one build, `#/compare/A/B` two builds side by side.
// Hash routes keep the server to one HTML file and make every view a link that survives a reload.
import { mount, h } from './dom.js';
import { renderList } from './list.js';
import { renderBuild } from './build.js';
import { renderCompare } from './compare.js';

const app = document.getElementById('app');
let current;

async function route() {
  current?.abort();
  const ac = new AbortController();
  current = ac;
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  try {
    if (parts[0] === 'build' && parts[1]) await renderBuild(app, parts[1], ac.signal);
    else if (parts[0] === 'compare' && parts[1] && parts[2]) await renderCompare(app, parts[1], parts[2], ac.signal);
    else await renderList(app, ac.signal);
  } catch (err) {
    if (ac.signal.aborted) return;
    mount(app, h('p', { class: 'error', role: 'alert' }, `Could not load this page: ${err.message}`));
  }
}

window.addEventListener('hashchange', () => void route());
void route();
