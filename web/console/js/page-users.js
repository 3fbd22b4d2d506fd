// Users: admins register people and service accounts, change roles, issue
// keys for them and deactivate them; auditors only read.
import { call } from './api.js';
import { h, alertBox, toast, field, showFieldErrors, busy, keepFocus } from './dom.js';
import { formDialog, confirmDialog } from './dialog.js';
import { issueKey } from './keyform.js';
import { when } from './format.js';

const roles = ['admin', 'developer', 'auditor'];

function roleBoxes(checked = []) {
  return h('fieldset', { class: 'roles', dataset: { field: 'roles' } }, h('legend', { text: 'Roles' }),
    roles.map((r) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'role', value: r, checked: checked.includes(r) }), ' ' + r)),
    h('p', { class: 'field-error', dataset: { errorFor: 'roles' }, hidden: true }));
}
const chosen = (el) => [...el.querySelectorAll('input[name=role]:checked')].map((i) => i.value);

/** render draws the page into section and returns its live hooks. */
export async function render(section, { me }) {
  const write = me.isAdmin;
  const errors = h('div', { class: 'form-errors' });
  const list = h('div', { class: 'list' });
  section.append(h('div', { class: 'page-head' }, h('h1', { text: 'Users' }),
    write ? null : h('p', { class: 'muted', text: 'Read-only: your roles let you see people but change nothing.' })));
  if (write) section.append(registerForm(() => load()));
  section.append(errors, list);

  let latest = 0; // a slow answer to an older load must not replace a newer one
  const load = async () => {
    const mine = ++latest;
    let users;
    try {
      users = await call('query.users');
      if (mine !== latest) return;
      errors.replaceChildren();
    } catch (err) {
      if (mine === latest) errors.replaceChildren(alertBox(err));
      return;
    }
    const rows = users.map((u) => h('tr', { dataset: { userId: u.user_id, userName: u.name } },
      h('td', { 'data-label': 'Name' }, h('strong', { text: u.name })),
      h('td', { 'data-label': 'User ID' }, h('code', { class: 'id', text: u.user_id })),
      h('td', { 'data-label': 'Kind', text: u.kind }),
      h('td', { 'data-label': 'Roles', text: (u.roles || []).join(', ') || 'none' }),
      h('td', { 'data-label': 'Status' }, h('span', { class: 'badge ' + (u.active ? 'active' : 'deleted'), text: u.active ? 'active' : 'deactivated' })),
      h('td', { 'data-label': 'Created' }, h('time', { datetime: u.created_at, text: when(u.created_at) })),
      write ? h('td', { class: 'row-actions', 'data-label': 'Actions' }, h('div', { class: 'actions' }, u.active ? actions(u) : [])) : null));
    keepFocus(list, () => h('div', { class: 'table-wrap' }, h('table', { class: 'users' },
      h('caption', { class: 'visually-hidden', text: 'People and service accounts' }),
      h('thead', {}, h('tr', {}, ['Name', 'User ID', 'Kind', 'Roles', 'Status', 'Created', write ? 'Actions' : null]
        .filter(Boolean).map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, rows))));
  };
  const act = async (work) => {
    errors.replaceChildren();
    try { await work(); } catch (err) { errors.replaceChildren(alertBox(err)); }
    await load();
  };
  const actions = (u) => [
    h('button', { type: 'button', class: 'small secondary', text: 'Issue key', 'aria-label': `Issue a key for ${u.name}`, dataset: { action: 'issue' },
      onclick: () => act(async () => issueKey(await call('query.settings'), u)) }),
    h('button', { type: 'button', class: 'small secondary', text: 'Roles', 'aria-label': `Change the roles of ${u.name}`, dataset: { action: 'roles' },
      onclick: () => act(() => changeRoles(u)) }),
    u.user_id === me.user_id ? null : h('button', { type: 'button', class: 'small danger secondary', text: 'Deactivate', 'aria-label': `Deactivate ${u.name}`, dataset: { action: 'deactivate' },
      onclick: () => act(() => deactivate(u)) }),
  ];
  await load();
  return { refresh: load, notice: (n) => { if (['registered', 'roles_changed', 'deactivated'].includes(n.action)) load(); } };
}

function registerForm(done) {
  const name = field({ name: 'name', label: 'Name', hint: 'A person’s login name or a service’s name.' });
  const kind = field({ name: 'kind', label: 'Kind', input: h('select', {}, h('option', { value: 'person', text: 'person' }), h('option', { value: 'service', text: 'service account' })) });
  const boxes = roleBoxes(['developer']);
  const errors = h('div', { class: 'form-errors' });
  const submit = h('button', { type: 'submit', class: 'primary', text: 'Register' });
  const form = h('form', { class: 'card register', 'aria-labelledby': 'register-title' },
    h('h2', { id: 'register-title', text: 'Register a person or service account' }), errors,
    h('div', { class: 'grid' }, name.wrap, kind.wrap, boxes), h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    errors.replaceChildren();
    busy(submit, async () => {
      try {
        const u = await call('cmd.user.register', { name: name.input.value.trim(), kind: kind.input.value, roles: chosen(boxes) });
        toast(`Registered ${u.name}.`);
        name.input.value = '';
        showFieldErrors(form, null);
        await done();
      } catch (err) {
        if (!showFieldErrors(form, err)) errors.replaceChildren(alertBox(err));
      }
    });
  });
  return form;
}

async function changeRoles(u) {
  const boxes = roleBoxes(u.roles || []);
  const r = await formDialog({
    title: `Roles of ${u.name}`, submitLabel: 'Save roles', label: 'roles', fields: [boxes],
    intro: h('p', { class: 'muted', text: 'admin: everything · developer: own keys within policy · auditor: read everything, change nothing.' }),
    submit: async (form) => {
      try {
        return await call('cmd.user.roles', { user_id: u.user_id, roles: chosen(boxes) });
      } catch (err) {
        if (showFieldErrors(form, err)) err.shown = true;
        throw err;
      }
    },
  });
  if (r) toast(`${r.name} now has roles: ${(r.roles || []).join(', ') || 'none'}.`);
}

async function deactivate(u) {
  let n = 0;
  let cursor;
  for (let i = 0; i < 50; i++) {
    const page = await call('query.keys', { owner: u.user_id, limit: 1000, cursor });
    n += page.keys.filter((k) => k.status !== 'deleted').length;
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  const ok = await confirmDialog({
    title: `Deactivate ${u.name}?`, label: 'deactivate', confirmLabel: `Deactivate and delete ${n} key${n === 1 ? '' : 's'}`,
    message: `${u.name} will no longer be able to sign in or act, and ${n === 0 ? 'they have no keys to delete' : `all ${n} of their key${n === 1 ? '' : 's'} will be deleted for good`}. This cannot be undone.`,
  });
  if (!ok) return;
  await call('cmd.user.deactivate', { user_id: u.user_id });
  toast(`Deactivated ${u.name}; ${n} key${n === 1 ? '' : 's'} deleted.`);
}
