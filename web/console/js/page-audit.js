// Audit: the trail of every change, read through query.audit. The nav
// entry is hidden when the server has no such endpoint.
import { call } from './api.js';
import { h, clear, alertBox, field } from './dom.js';
import { when } from './format.js';

/** render draws the page into section. */
export async function render(section) {
  const keyID = field({ name: 'key_id', label: 'Key ID' });
  const actor = field({ name: 'actor', label: 'Actor', hint: 'User ID of who acted.' });
  const action = field({ name: 'action', label: 'Action', hint: 'e.g. revoked, issued.' });
  const since = field({ name: 'since', label: 'Since', type: 'date' });
  const until = field({ name: 'until', label: 'Until', type: 'date' });
  const form = h('form', { class: 'filters grid', role: 'search', 'aria-label': 'Filter the audit trail' },
    keyID.wrap, actor.wrap, action.wrap, since.wrap, until.wrap,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', text: 'Show' })));
  const errors = h('div', { class: 'form-errors' });
  const list = h('div', { class: 'list' });
  const more = h('button', { type: 'button', class: 'secondary', text: 'Load more', hidden: true });
  section.append(h('div', { class: 'page-head' }, h('h1', { text: 'Audit trail' })), form, errors, list, more);
  let entries = [];
  let cursor = '';
  const load = async (append = false) => {
    const f = { limit: 100 };
    for (const [k, el] of [['key_id', keyID], ['actor', actor], ['action', action]]) if (el.input.value.trim()) f[k] = el.input.value.trim();
    if (since.input.value) f.since = since.input.value + 'T00:00:00Z';
    if (until.input.value) f.until = until.input.value + 'T00:00:00Z';
    if (append && cursor) f.cursor = cursor;
    try {
      const page = await call('query.audit', f);
      entries = append ? entries.concat(page.entries || []) : (page.entries || []);
      cursor = page.next_cursor || '';
      errors.replaceChildren();
    } catch (err) {
      errors.replaceChildren(alertBox(err));
      return;
    }
    more.hidden = !cursor;
    if (!entries.length) { clear(list, h('p', { class: 'empty', text: 'No entries match.' })); return; }
    const cols = [['Seq', (e) => String(e.seq)], ['At', (e) => when(e.at)], ['Actor', (e) => e.actor], ['Action', (e) => e.action],
      ['Key', (e) => e.key_id || '—'], ['Owner', (e) => e.owner || '—'], ['Detail', (e) => typeof e.detail === 'string' ? e.detail : JSON.stringify(e.detail ?? '')]];
    clear(list, h('div', { class: 'table-wrap' }, h('table', { class: 'audit' },
      h('thead', {}, h('tr', {}, cols.map(([t]) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, entries.map((e) => h('tr', {}, cols.map(([t, f]) => h('td', { 'data-label': t, text: f(e) }))))))));
  };
  form.addEventListener('submit', (e) => { e.preventDefault(); load(); });
  more.addEventListener('click', () => load(true));
  await load();
  return { refresh: () => load() };
}
