// My keys: generate, rename, revoke, regenerate and delete one's own keys.
import { call } from './api.js';
import { h, clear, alertBox, toast, field, showFieldErrors, keepFocus } from './dom.js';
import { formDialog, confirmDialog } from './dialog.js';
import { issueKey, regenerateKey, policyLine } from './keyform.js';
import { keyTable, keyActions } from './keytable.js';

/** render draws the page into section and returns its live hooks. */
export async function render(section, { me }) {
  const policy = h('p', { class: 'policy', dataset: { policy: '' } });
  const list = h('div', { class: 'list' });
  const showDeleted = h('input', { type: 'checkbox', id: 'show-deleted' });
  const generate = h('button', { type: 'button', class: 'primary', text: 'Generate key', dataset: { action: 'generate' } });
  const deleteAll = h('button', { type: 'button', class: 'danger secondary', text: 'Delete all my keys', dataset: { action: 'delete-all' } });
  const errors = h('div', { class: 'form-errors' });
  section.append(
    h('div', { class: 'page-head' }, h('h1', { text: 'My keys' }), h('div', { class: 'actions' }, generate, deleteAll)),
    policy, errors,
    h('div', { class: 'filters' }, h('label', { class: 'check' }, showDeleted, ' Show deleted keys')),
    list);

  let settings = null;
  let keys = [];
  let latest = 0; // a slow answer to an older load must not replace a newer one
  const load = async () => {
    const mine = ++latest;
    try {
      const [s, k] = await Promise.all([call('query.settings'), allMine(me)]);
      if (mine !== latest) return;
      [settings, keys] = [s, k];
      errors.replaceChildren();
    } catch (err) {
      if (mine === latest) errors.replaceChildren(alertBox(err));
      return;
    }
    policy.textContent = policyLine(settings);
    policy.classList.toggle('warn', !settings.enabled);
    draw();
  };
  const draw = () => {
    const shown = keys.filter((k) => showDeleted.checked || k.status !== 'deleted');
    deleteAll.disabled = !keys.some((k) => k.status !== 'deleted');
    if (shown.length === 0) {
      clear(list, h('p', { class: 'empty', text: 'You have no keys yet. Generate one to call the APIs that verify keyledger keys.' }));
      return;
    }
    keepFocus(list, () => keyTable(shown, { cols: ['name', 'id', 'status', 'created', 'expires', 'last_used'], caption: 'Your keys', actions: rowActions }));
  };
  const act = async (work) => {
    errors.replaceChildren();
    try { await work(); } catch (err) { errors.replaceChildren(alertBox(err)); }
    await load();
  };
  const rowActions = (k) => {
    const b = [];
    if (k.status !== 'deleted') b.push(h('button', { type: 'button', class: 'small secondary', text: 'Rename', 'aria-label': `Rename ${k.name}`, onclick: () => act(() => rename(k)) }));
    if (k.status === 'active') {
      b.push(h('button', { type: 'button', class: 'small secondary', text: 'Revoke', 'aria-label': `Revoke ${k.name}`, onclick: () => act(async () => {
        if (!await confirmDialog({ title: `Revoke “${k.name}”?`, message: 'Anything using this key stops working at once. You can regenerate it later with a new secret.', confirmLabel: 'Revoke key' })) return;
        const r = await call('cmd.key.revoke', { key_ids: [k.key_id], reason: 'revoked by its owner in the console' });
        report(r.revoked, r.failed, 'Revoked');
      }) }));
    }
    // A key an admin revoked only an admin may regenerate.
    const mayRegenerate = !k.revoked_by || k.revoked_by === k.owner || me.isAdmin;
    if (k.status === 'revoked' && mayRegenerate) b.push(h('button', { type: 'button', class: 'small secondary', text: 'Regenerate', 'aria-label': `Regenerate ${k.name}`, onclick: () => act(() => regenerateKey(k)) }));
    if (k.status === 'revoked' && !mayRegenerate) b.push(h('span', { class: 'muted', text: 'Revoked by an admin' + (k.revoke_reason ? `: ${k.revoke_reason}` : '') }));
    if (k.status !== 'deleted') {
      b.push(h('button', { type: 'button', class: 'small danger secondary', text: 'Delete', 'aria-label': `Delete ${k.name}`, onclick: () => act(async () => {
        if (!await confirmDialog({ title: `Delete “${k.name}”?`, message: 'A deleted key ends for good: it cannot be regenerated.', confirmLabel: 'Delete key' })) return;
        const r = await call('cmd.key.delete', { key_ids: [k.key_id] });
        report(r.deleted, r.failed, 'Deleted');
      }) }));
    }
    return b;
  };
  generate.addEventListener('click', () => act(async () => {
    if (!settings) settings = await call('query.settings');
    await issueKey(settings, null);
  }));
  deleteAll.addEventListener('click', () => act(async () => {
    const n = keys.filter((k) => k.status !== 'deleted').length;
    if (!await confirmDialog({ title: 'Delete all your keys?', message: `This deletes all ${n} of your keys that are not deleted yet. Everything using them stops working, for good.`, confirmLabel: `Delete ${n} keys`, label: 'delete-all' })) return;
    const r = await call('cmd.key.delete', { owner: me.user_id, all: true });
    report(r.deleted, r.failed, 'Deleted');
  }));
  showDeleted.addEventListener('change', draw);
  await load();

  let timer = 0;
  const refresh = () => { clearTimeout(timer); timer = setTimeout(load, 100); };
  return {
    refresh,
    notice: (n) => { if (n.owner === me.user_id && (keyActions.has(n.action) || n.action === 'deactivated')) refresh(); },
  };
}

function report(done, failed, verb) {
  if (failed && failed.length) toast(`${verb} ${done.length}; ${failed.length} failed: ${failed.map((f) => f.message).join('; ')}`, 'error');
  else toast(`${verb} ${done.length} key${done.length === 1 ? '' : 's'}.`);
}

async function rename(k) {
  const name = field({ name: 'name', label: 'Name', value: k.name });
  name.input.autofocus = true;
  const description = field({ name: 'description', label: 'Description', value: k.description || '' });
  const r = await formDialog({
    title: `Rename “${k.name}”`, submitLabel: 'Save', label: 'rename', fields: [name.wrap, description.wrap],
    submit: async (form) => {
      try {
        return await call('cmd.key.update', { key_id: k.key_id, name: name.input.value.trim(), description: description.input.value.trim() });
      } catch (err) {
        if (showFieldErrors(form, err)) err.shown = true;
        throw err;
      }
    },
  });
  if (r) toast(`Saved “${r.name}”.`);
}

/** allMine reads every page of the caller's keys. */
async function allMine(me) {
  const out = [];
  let cursor = '';
  for (let i = 0; i < 20; i++) {
    const page = await call('query.keys', { owner: me.user_id, limit: 1000, cursor: cursor || undefined });
    out.push(...page.keys);
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return out;
}
