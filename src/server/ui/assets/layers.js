// The result image's layers, bottom first, with their sizes and the files each adds and removes (as `dive`).
import { h, mount } from './dom.js';
import { getLayers } from './api.js';
import { bytes } from './format.js';

export async function renderLayers(target, rec, signal) {
  if (!rec.result?.manifestDigest) {
    mount(target, h('p', { class: 'muted' }, 'No image: the build did not finish with one.'));
    return;
  }
  let data;
  try {
    data = await getLayers(rec.id, { signal });
  } catch (err) {
    mount(target, h('p', { class: 'muted' }, `Layers unavailable: ${err.message}`));
    return;
  }
  const rows = data.layers.map((l, i) =>
    h(
      'details',
      { class: 'layer', 'data-layer': i },
      h('summary', {}, h('span', { class: 'num' }, bytes(l.size)), ' ', h('code', {}, l.createdBy ?? l.digest.slice(0, 19)), h('span', { class: 'muted' }, ` +${l.addedTotal} −${l.removedTotal}`)),
      h(
        'ul',
        { class: 'files' },
        l.added.map((f) => h('li', { class: 'added' }, `+ ${f.path}${f.type === 'dir' ? '/' : ''}`, f.type === 'file' ? h('span', { class: 'muted' }, ` ${bytes(f.size)}`) : null)),
        l.removed.map((p) => h('li', { class: 'removed' }, `− ${p}`)),
        l.truncated ? h('li', { class: 'muted' }, `… ${l.addedTotal - l.added.length + l.removedTotal - l.removed.length} more`) : null,
      ),
    ),
  );
  mount(target, h('p', { class: 'muted' }, `${data.layers.length} layers, ${bytes(data.totalSize)} of files${data.platform ? ` (${data.platform})` : ''}`), rows);
}
