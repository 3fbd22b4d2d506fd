// The form that issues a key, shared by My keys and Users (an admin issuing
// a key for someone), and the dialogs that follow it.
import { call } from './api.js';
import { h, field, showFieldErrors } from './dom.js';
import { formDialog, tokenDialog } from './dialog.js';
import { days, period } from './format.js';

const presets = ['P7D', 'P30D', 'P90D', 'P180D', 'P1Y'];

/** policyLine says in one sentence what the key policy allows. */
export function policyLine(s) {
  if (!s.enabled) return 'API keys are disabled: nobody can create keys until an admin enables them under Settings.';
  const max = s.max_expiry === 'never' ? 'may never expire' : `expire within ${period(s.max_expiry)}`;
  const idle = s.inactivity_expiry === 'none' ? '' : `, end after ${period(s.inactivity_expiry)} unused`;
  return `Keys ${max} (default ${period(s.default_expiry)})${idle}; at most ${s.max_active_keys_per_user} active keys per person.`;
}

/**
 * issueKey asks for a new key's details, issues it, and shows its token
 * once. owner is {user_id, name} when an admin issues for someone else.
 * Resolves with the new key, or undefined when cancelled.
 */
export async function issueKey(settings, owner) {
  const name = field({ name: 'name', label: 'Name', hint: 'Unique among your active keys, e.g. ci-deploy.' });
  name.input.required = true;
  name.input.autofocus = true;
  const description = field({ name: 'description', label: 'Description (optional)' });
  const expiry = h('select', {},
    h('option', { value: '', text: `Policy default (${period(settings.default_expiry)})` }),
    presets.filter((p) => settings.max_expiry === 'never' || days(p) <= days(settings.max_expiry))
      .map((p) => h('option', { value: p, text: period(p) })),
    settings.max_expiry === 'never' ? h('option', { value: 'never', text: 'Never' }) : null,
    h('option', { value: 'date', text: 'On a date…' }));
  const exp = field({ name: 'expires_in', label: 'Expires', input: expiry,
    hint: settings.max_expiry === 'never' ? 'Policy allows keys that never expire.' : `Policy: at most ${period(settings.max_expiry)}. Expiry can never be extended later.` });
  const date = field({ name: 'expires_at', label: 'Expiry date (UTC)', type: 'date' });
  date.wrap.hidden = true;
  expiry.addEventListener('change', () => { date.wrap.hidden = expiry.value !== 'date'; });
  const scopes = field({ name: 'scopes', label: 'Scopes (optional)', hint: 'Separated by spaces or commas, e.g. payments:read payments:write.' });
  const cidrs = field({ name: 'allowed_cidrs', label: 'Allowed networks (optional)', hint: 'CIDRs separated by spaces or commas, e.g. 10.0.0.0/8.' });
  const limit = field({ name: 'rate_limit.limit', label: 'Rate limit (optional)', type: 'number', hint: 'Verifications allowed per period; empty for none.' });
  limit.input.min = '1';
  limit.input.inputMode = 'numeric';
  const per = h('select', { 'aria-label': 'Rate limit period' },
    [['PT1S', 'per second'], ['PT1M', 'per minute'], ['PT1H', 'per hour'], ['P1D', 'per day']].map(([v, t]) => h('option', { value: v, text: t, selected: v === 'PT1M' })));
  limit.input.after(per);
  limit.wrap.classList.add('inline');
  const intro = owner ? h('p', {}, 'The key will belong to ', h('strong', { text: owner.name }), ' and act with their roles.') : null;
  const list = (s) => s.split(/[\s,]+/).filter(Boolean);

  const key = await formDialog({
    title: owner ? `New key for ${owner.name}` : 'Generate a key', submitLabel: 'Generate key', label: 'issue', intro,
    fields: [name.wrap, description.wrap, exp.wrap, date.wrap, scopes.wrap, cidrs.wrap, limit.wrap],
    submit: async (form) => {
      const body = { name: name.input.value.trim(), description: description.input.value.trim() };
      if (owner) body.owner = owner.user_id;
      if (expiry.value === 'date') body.expires_at = date.input.value ? date.input.value + 'T00:00:00Z' : '';
      else if (expiry.value) body.expires_in = expiry.value;
      if (scopes.input.value.trim()) body.scopes = list(scopes.input.value);
      if (cidrs.input.value.trim()) body.allowed_cidrs = list(cidrs.input.value);
      if (limit.input.value.trim()) body.rate_limit = { limit: Number(limit.input.value), per: per.value };
      if (body.expires_at === '') delete body.expires_at;
      try {
        return await call('cmd.key.issue', body);
      } catch (err) {
        if (showFieldErrors(form, err, { expires_at: 'expires_at', expires_in: 'expires_in', rate_limit: 'rate_limit.limit' })) err.shown = true;
        throw err;
      }
    },
  });
  if (key && key.token) await tokenDialog(key);
  return key;
}

/** regenerateKey gives a revoked key a new secret and shows it once. */
export async function regenerateKey(k) {
  const key = await call('cmd.key.regenerate', { key_id: k.key_id });
  if (key && key.token) await tokenDialog(key);
  return key;
}
