// All keys: search and filter every key; admins revoke many at once and
// regenerate revoked keys, auditors only read.
import { call } from './api.js';
import { h, clear, alertBox, toast, field, keepFocus } from './dom.js';
import { formDialog } from './dialog.js';
import { regenerateKey } from './keyform.js';
import { keyTable, keyActions } from './keytable.js';

/** render draws the page into section and returns its live hooks. */
export async function render(section, { me }) {
  const write = me.isAdmin;
  const q = field({ name: 'q', label: 'Search', type: 'search', hint: 'A key name (or part of one), a key ID, or an owner’s name or ID.' });
  const status = field({ name: 'status', label: 'Status', input: h('select', {},
    ['', 'active', 'expired', 'revoked', 'deleted'].map((s) => h('option', { value: s, text: s || 'any' }))) });
  const owner = field({ name: 'owner', label: 'Owner', hint: 'Name or user ID.' });
  const createdBy = field({ name: 'created_by', label: 'Created by', hint: 'Name or user ID.' });
  const before = field({ name: 'expires_before', label: 'Expiring before', type: 'date' });
  const never = h('input', { type: 'checkbox', name: 'never_expires' });
  const search = h('button', { type: 'submit', class: 'primary', text: 'Search' });
  const reset = h('button', { type: 'reset', class: 'secondary', text: 'Clear' });
  const form = h('form', { class: 'filters grid', role: 'search', 'aria-label': 'Find keys' },
    q.wrap, status.wrap, owner.wrap, createdBy.wrap, before.wrap,
    h('div', { class: 'field check-field' }, h('label', { class: 'check' }, never, ' Never expires')),
    h('div', { class: 'actions' }, search, reset));
  const selected = new Set();
  const revoke = h('button', { type: 'button', class: 'danger', dataset: { action: 'revoke-selected' }, disabled: true });
  const toolbar = h('div', { class: 'toolbar' }, write ? revoke : null, h('span', { class: 'muted count', role: 'status' }));
  const errors = h('div', { class: 'form-errors' });
  const list = h('div', { class: 'list' });
  const more = h('button', { type: 'button', class: 'secondary', text: 'Load more', hidden: true });
  section.append(h('div', { class: 'page-head' }, h('h1', { text: 'All keys' }),
    write ? null : h('p', { class: 'muted', text: 'Read-only: your roles let you see every key but change none.' })),
    form, errors, toolbar, list, more);

  const names = {};
  const namesLoaded = call('query.users')
    .then((users) => { for (const u of users) names[u.user_id] = u.name; })
    .catch(() => { /* IDs are shown instead of names */ });
  let keys = [];
  let cursor = '';
  const filter = () => {
    const f = { limit: 100 };
    if (q.input.value.trim()) f.q = q.input.value.trim();
    if (status.input.value) f.status = status.input.value;
    if (owner.input.value.trim()) f.owner = owner.input.value.trim();
    if (createdBy.input.value.trim()) f.created_by = createdBy.input.value.trim();
    if (before.input.value) f.expires_before = before.input.value + 'T00:00:00Z';
    if (never.checked) f.never_expires = true;
    return f;
  };
  let latest = 0; // a slow answer to an older search must not replace a newer one
  const load = async (append = false) => {
    const mine = ++latest;
    try {
      const [page] = await Promise.all([call('query.keys', { ...filter(), cursor: append ? cursor : undefined }), namesLoaded]);
      if (mine !== latest) return;
      keys = append ? keys.concat(page.keys) : page.keys;
      cursor = page.next_cursor || '';
      errors.replaceChildren();
    } catch (err) {
      if (mine !== latest) return;
      errors.replaceChildren(alertBox(err));
      keys = [];
      cursor = '';
    }
    const ids = new Set(keys.filter((k) => k.status === 'active').map((k) => k.key_id));
    for (const id of [...selected]) if (!ids.has(id)) selected.delete(id);
    draw();
  };
  const onSelect = () => {
    revoke.disabled = selected.size === 0;
    revoke.textContent = selected.size ? `Revoke selected (${selected.size})` : 'Revoke selected';
    draw();
  };
  const draw = () => {
    revoke.disabled = selected.size === 0;
    revoke.textContent = selected.size ? `Revoke selected (${selected.size})` : 'Revoke selected';
    toolbar.querySelector('.count').textContent = `${keys.length} key${keys.length === 1 ? '' : 's'} shown${cursor ? ', more below' : ''}`;
    more.hidden = !cursor;
    if (keys.length === 0) { clear(list, h('p', { class: 'empty', text: 'No keys match.' })); return; }
    keepFocus(list, () => keyTable(keys, {
      cols: ['name', 'id', 'owner', 'status', 'created', 'created_by', 'expires', 'last_used'], names, caption: 'Keys found',
      select: write ? selected : null, onSelect,
      actions: write ? (k) => k.status === 'revoked'
        ? [h('button', { type: 'button', class: 'small secondary', text: 'Regenerate', 'aria-label': `Regenerate ${k.name}`, onclick: () => act(() => regenerateKey(k)) })]
        : [] : null,
    }));
  };
  const act = async (work) => {
    errors.replaceChildren();
    try { await work(); } catch (err) { errors.replaceChildren(alertBox(err)); }
    await load();
  };
  form.addEventListener('submit', (e) => { e.preventDefault(); load(); });
  form.addEventListener('reset', () => setTimeout(load));
  more.addEventListener('click', () => load(true));
  revoke.addEventListener('click', () => act(async () => {
    const ids = [...selected];
    const reason = field({ name: 'reason', label: 'Reason', hint: 'Recorded in the audit trail, e.g. “leaked in a log”.' });
    reason.input.autofocus = true;
    const r = await formDialog({
      title: `Revoke ${ids.length} key${ids.length === 1 ? '' : 's'}?`, submitLabel: `Revoke ${ids.length}`, danger: true, label: 'revoke',
      intro: h('p', { text: 'Anything using these keys stops working at once. Only an admin can regenerate them.' }),
      fields: [reason.wrap],
      submit: () => call('cmd.key.revoke', { key_ids: ids, reason: reason.input.value.trim() }),
    });
    if (!r) return;
    selected.clear();
    if (r.failed.length) toast(`Revoked ${r.revoked.length}; ${r.failed.length} failed: ${r.failed.map((f) => f.message).join('; ')}`, 'error');
    else toast(`Revoked ${r.revoked.length} key${r.revoked.length === 1 ? '' : 's'}.`);
  }));
  await load();

  let timer = 0;
  const refresh = () => { clearTimeout(timer); timer = setTimeout(() => load(), 150); };
  return { refresh, notice: (n) => { if (n.key_id && keyActions.has(n.action)) refresh(); } };
}
