// Settings: the key policy, admins only. The server validates; its invalid
// messages name the field and are shown beside it.
import { call } from './api.js';
import { h, alertBox, toast, field, showFieldErrors, busy } from './dom.js';
import { when, period } from './format.js';

/** render draws the page into section. */
export async function render(section) {
  const s = await call('query.settings');
  const names = { system: 'keyledger itself' };
  try {
    for (const u of await call('query.users')) names[u.user_id] = u.name;
  } catch { /* IDs are shown instead of names */ }
  const enabled = h('input', { type: 'checkbox', name: 'enabled', id: 'f-enabled', checked: s.enabled });
  const max = field({ name: 'max_expiry', label: 'Maximum expiry', value: s.max_expiry, hint: 'ISO 8601 period (P180D = 180 days, P1Y = a year), or “never” to allow keys without expiry.' });
  const def = field({ name: 'default_expiry', label: 'Default expiry', value: s.default_expiry, hint: 'Used when a key is created without an expiry; at most the maximum.' });
  const idle = field({ name: 'inactivity_expiry', label: 'Inactivity expiry', value: s.inactivity_expiry, hint: 'Keys unused this long stop working (e.g. P90D), or “none”.' });
  const perUser = field({ name: 'max_active_keys_per_user', label: 'Max active keys per user', value: String(s.max_active_keys_per_user), hint: '1 to 1000.' });
  perUser.input.inputMode = 'numeric';
  const stamp = h('p', { class: 'muted' });
  const showStamp = (v) => { stamp.textContent = v.updated_at ? `Last changed ${when(v.updated_at)} by ${names[v.updated_by] || v.updated_by}.` : 'Never changed: these are the defaults.'; };
  showStamp(s);
  const errors = h('div', { class: 'form-errors' });
  const save = h('button', { type: 'submit', class: 'primary', text: 'Save settings' });
  const form = h('form', { class: 'card stack settings', novalidate: true, 'aria-labelledby': 'settings-title' },
    h('h2', { id: 'settings-title', text: 'Key policy' }), errors,
    h('div', { class: 'field', dataset: { field: 'enabled' } },
      h('label', { class: 'check' }, enabled, ' API keys are enabled'),
      h('p', { class: 'hint', text: 'While disabled, nobody can create or regenerate keys.' }),
      h('p', { class: 'field-error', dataset: { errorFor: 'enabled' }, hidden: true })),
    max.wrap, def.wrap, idle.wrap, perUser.wrap,
    h('p', { class: 'hint', text: 'Max and default expiry apply to keys created afterwards: existing keys keep the expiry they were created with. Inactivity expiry applies to every key at once, admin keys and the first admin\'s too.' }),
    h('div', { class: 'actions' }, save), stamp);
  section.append(h('div', { class: 'page-head' }, h('h1', { text: 'Settings' })), form);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    errors.replaceChildren();
    const n = perUser.input.value.trim();
    const body = {
      enabled: enabled.checked,
      max_expiry: max.input.value.trim(),
      default_expiry: def.input.value.trim(),
      inactivity_expiry: idle.input.value.trim(),
      // Not a number: sent as typed, so that the server's message names the field.
      max_active_keys_per_user: /^\d{1,9}$/.test(n) ? Number(n) : n,
    };
    busy(save, async () => {
      try {
        const v = await call('cmd.settings.set', body);
        showFieldErrors(form, null);
        showStamp(v);
        toast(`Settings saved: keys ${v.enabled ? 'enabled' : 'disabled'}, max expiry ${period(v.max_expiry)}.`);
      } catch (err) {
        if (!showFieldErrors(form, err)) errors.replaceChildren(alertBox(err));
      }
    });
  });
  return {};
}
