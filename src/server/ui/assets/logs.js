// A step's full log, streamed: the page reads the first CHUNK characters, then more only when asked ("Load more")
// or continuously ("Follow" — for a running step, until its log ends). Search runs over what is loaded, listing
// matching lines; nothing is ever fetched whole.
import { h, mount } from './dom.js';
import { openLog } from './api.js';
import { bytes } from './format.js';

const CHUNK = 256 * 1024;

export function createLogView(rec) {
  const pre = h('pre', { class: 'log', id: 'log', tabindex: 0 });
  const info = h('span', { class: 'muted', id: 'log-info' });
  const more = h('button', { type: 'button', hidden: true }, 'Load more');
  const follow = h('button', { type: 'button', hidden: true }, 'Follow');
  const search = h('input', { type: 'search', placeholder: 'Search loaded log', 'aria-label': 'search the log', id: 'log-search' });
  const results = h('ol', { class: 'log-results', id: 'log-results' });
  const title = h('h3', { id: 'log-title' }, 'Logs');
  let reader;
  let text = '';
  let done = false;
  let session = 0;

  // What the network delivered past the last shown chunk: it waits here for the next "Load more".
  let pending = '';

  function showText(value) {
    text += value;
    // Append, not re-render: the log can be large and the text node just grows.
    pre.append(value);
  }

  async function pull(limit) {
    const mine = session;
    let got = 0;
    while (reader && got < limit) {
      let value = pending;
      pending = '';
      if (!value) {
        const r = await reader.read();
        if (mine !== session) return;
        if (r.done) {
          done = true;
          break;
        }
        value = r.value;
      }
      if (got + value.length > limit) {
        pending = value.slice(limit - got);
        value = value.slice(0, limit - got);
      }
      got += value.length;
      showText(value);
    }
    more.hidden = done;
    follow.hidden = done;
    info.textContent = `${bytes(text.length)} loaded${done ? ' (end of log)' : ''}`;
    if (search.value) find();
  }

  function find() {
    const q = search.value;
    if (!q) {
      mount(results);
      return;
    }
    const hits = [];
    const lower = q.toLowerCase();
    text.split('\n').forEach((line, i) => {
      if (hits.length < 500 && line.toLowerCase().includes(lower)) hits.push(h('li', { value: i + 1 }, line));
    });
    mount(results, hits.length ? hits : h('li', { class: 'muted' }, 'no match in the loaded part'));
  }

  async function show(step) {
    session++;
    await reader?.cancel().catch(() => {});
    reader = undefined;
    text = '';
    pending = '';
    done = false;
    mount(pre);
    mount(results);
    title.textContent = `Logs of step #${step.id}: ${step.text}`;
    info.textContent = `${bytes(step.logBytes ?? 0)} recorded`;
    if (!step.logBytes && step.status !== 'running') {
      pre.append(step.status === 'cached' ? '(cached: the step did not run in this build)' : '(no output)');
      more.hidden = true;
      follow.hidden = true;
      return;
    }
    try {
      reader = await openLog(rec.id, step.id);
    } catch (err) {
      pre.append(`could not open the log: ${err.message}`);
      return;
    }
    await pull(CHUNK);
  }

  more.addEventListener('click', () => void pull(CHUNK));
  follow.addEventListener('click', () => void pull(Infinity));
  search.addEventListener('input', find);
  const el = h('section', { class: 'logs', id: 'logs' }, title, h('div', { class: 'bar' }, search, info, more, follow), results, pre);
  return { el, show, close: () => void reader?.cancel().catch(() => {}) };
}
