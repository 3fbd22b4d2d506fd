// The key table both key pages use. On narrow screens CSS turns each row
// into a card, using the data-label of each cell.
import { h } from './dom.js';
import { timeCell } from './format.js';

/**
 * keyActions are the notices that change a key row; others (refused
 * attempts, for one) leave the tables as they are.
 */
export const keyActions = new Set(['issued', 'renamed', 'revoked', 'regenerated', 'deleted', 'expired']);

/** statusBadge shows a key's status in words, with colour as a second cue. */
export function statusBadge(status) {
  return h('span', { class: 'badge ' + status, dataset: { status }, text: status });
}

/**
 * keyTable renders keys. cols picks the columns; select (a Set of IDs) adds
 * checkboxes; actions(key) returns the row's buttons.
 */
export function keyTable(keys, { cols, select, onSelect, actions, names = {}, caption }) {
  const all = {
    name: ['Name', (k) => h('span', {}, h('strong', { class: 'key-name', text: k.name }),
      k.description ? h('small', { class: 'muted block', text: k.description }) : null,
      (k.scopes || []).length ? h('small', { class: 'scopes block' }, (k.scopes || []).map((s) => h('code', { text: s }))) : null)],
    id: ['Key ID', (k) => h('code', { class: 'id', text: k.key_id })],
    owner: ['Owner', (k) => h('span', { text: k.owner_name || k.owner, title: k.owner })],
    status: ['Status', (k) => statusBadge(k.status)],
    created: ['Created', (k) => timeCell(h, k.created_at)],
    created_by: ['Created by', (k) => h('span', { text: names[k.created_by] || k.created_by })],
    expires: ['Expires', (k) => timeCell(h, k.effective_expires_at, { none: 'never' })],
    last_used: ['Last used', (k) => timeCell(h, k.last_used_at, { none: 'never' })],
  };
  const head = [];
  if (select) {
    const allBox = h('input', { type: 'checkbox', 'aria-label': 'Select every key shown' });
    const selectable = keys.filter((k) => k.status === 'active');
    allBox.checked = selectable.length > 0 && selectable.every((k) => select.has(k.key_id));
    allBox.disabled = selectable.length === 0;
    allBox.addEventListener('change', () => {
      for (const k of selectable) allBox.checked ? select.add(k.key_id) : select.delete(k.key_id);
      onSelect();
    });
    head.push(h('th', { scope: 'col', class: 'select' }, allBox));
  }
  for (const c of cols) head.push(h('th', { scope: 'col', text: all[c][0] }));
  if (actions) head.push(h('th', { scope: 'col', text: 'Actions' }));
  const rows = keys.map((k) => {
    const cells = [];
    if (select) {
      const box = h('input', { type: 'checkbox', 'aria-label': `Select ${k.name}`, checked: select.has(k.key_id), disabled: k.status !== 'active', dataset: { select: k.key_id } });
      box.addEventListener('change', () => { box.checked ? select.add(k.key_id) : select.delete(k.key_id); onSelect(); });
      cells.push(h('td', { class: 'select', 'data-label': 'Select' }, box));
    }
    for (const c of cols) cells.push(h('td', { 'data-label': all[c][0], dataset: { col: c } }, all[c][1](k)));
    if (actions) cells.push(h('td', { class: 'row-actions', 'data-label': 'Actions' }, h('div', { class: 'actions' }, actions(k))));
    return h('tr', { dataset: { keyId: k.key_id, keyName: k.name, status: k.status } }, cells);
  });
  return h('div', { class: 'table-wrap' }, h('table', { class: 'keys' },
    caption ? h('caption', { class: 'visually-hidden', text: caption }) : null,
    h('thead', {}, h('tr', {}, head)), h('tbody', {}, rows)));
}
