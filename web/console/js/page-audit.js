// Audit: what looks wrong now (query.audit.suspicious), each suspect key's
// story (query.audit.trace) with a revoke button, and the trail of every
// change (query.audit). From "something looks wrong" to "revoked" is three
// clicks: Audit, Revoke, confirm. The nav entry is hidden when the server
// has no trail.
import { call } from './api.js';
import { h, clear, alertBox, field, toast } from './dom.js';
import { when, auditDetail } from './format.js';
import { formDialog, openDialog } from './dialog.js';

/** revokeKey asks for a reason and revokes one key. */
async function revokeKey(keyID, evidence) {
  const reason = field({ name: 'reason', label: 'Reason', hint: 'Kept in the audit trail.' });
  reason.input.value = evidence ? ('suspicious use: ' + evidence).slice(0, 200) : '';
  const r = await formDialog({
    title: 'Revoke this key?', submitLabel: 'Revoke', danger: true, label: 'revoke',
    intro: h('p', { text: `Anything using ${keyID} stops working at once. Only an admin can regenerate it.` }),
    fields: [reason.wrap],
    submit: () => call('cmd.key.revoke', { key_ids: [keyID], reason: reason.input.value.trim() }),
  });
  if (!r) return false;
  if (r.failed.length) toast(`Not revoked: ${r.failed.map((f) => f.message).join('; ')}`, 'error');
  else toast('Revoked 1 key.');
  return r.revoked.length > 0;
}

/** refusedText is "0", or the refusals with their reasons: "3 (1 not_found, 2 revoked)". */
function refusedText(c) {
  const reasons = ['not_found', 'revoked', 'expired', 'forbidden_ip', 'missing_scope', 'rate_limited', 'disabled'].filter((r) => c[r] > 0);
  const n = reasons.reduce((sum, r) => sum + c[r], 0);
  return n ? `${n} (${reasons.map((r) => `${c[r]} ${r}`).join(', ')})` : '0';
}

/** usageTable draws a trace's verifications per hour. */
function usageTable(usage) {
  if (!usage.length) return h('p', { class: 'empty', text: 'No verifications recorded (usage arrives once a minute).' });
  const cols = [['Hour (UTC)', (u) => u.hour.slice(0, 13).replace('T', ' ') + ':00'], ['Valid', (u) => String(u.counts.valid)],
    ['Refused', (u) => refusedText(u.counts)], ['From', (u) => (u.sources || []).map((s) => `${s.ip} ×${s.count}`).join(', ') || '—'],
    ['Reported by', (u) => (u.reported_by || []).map((r) => `${r.reporter} ×${r.attempts}`).join(', ') || '—']];
  return h('div', { class: 'table-wrap' }, h('table', { class: 'usage' },
    h('thead', {}, h('tr', {}, cols.map(([t]) => h('th', { scope: 'col', text: t })))),
    h('tbody', {}, usage.map((u) => h('tr', {}, cols.map(([t, f]) => h('td', { 'data-label': t, text: f(u) })))))));
}

/** showTrace opens a key's whole story in a dialog: what happened to it,
 * and its use per hour, with a revoke button. */
async function showTrace(keyID, write) {
  let t;
  try {
    t = await call('query.audit.trace', { key_id: keyID });
  } catch (err) {
    toast(err.message || String(err), 'error');
    return;
  }
  const entries = t.entries || [];
  const rows = entries.map((e) => h('li', {}, h('strong', { text: e.action }), ' ', when(e.at), ' by ', e.actor_name || e.actor || 'keyledger',
    e.source ? ` from ${e.source}` : '', auditDetail(e) ? ` — ${auditDetail(e)}` : ''));
  const actions = [];
  if (write) {
    const revoke = h('button', { type: 'button', class: 'danger', text: 'Revoke' });
    revoke.addEventListener('click', async () => { d.close(); await revokeKey(keyID, ''); });
    actions.push(revoke);
  }
  const body = [h('p', { text: `Owner ${t.owner || '—'}.` }), h('h3', { text: 'What happened' }), h('ol', { class: 'trace' }, rows),
    h('h3', { text: 'Verifications per hour' }), usageTable(t.usage || [])];
  const d = openDialog({ title: `Trace of ${keyID}`, label: 'trace', body, actions });
}

/** suspicious draws the ranking of keys whose recent use looks unusual. */
async function suspicious(box, write) {
  let report;
  try {
    report = await call('query.audit.suspicious', { window: 'PT1H', limit: 20 });
  } catch (err) {
    clear(box, alertBox(err));
    return;
  }
  const findings = report.findings || [];
  if (!findings.length) { clear(box, h('p', { class: 'empty', text: 'Nothing unusual in the last hour.' })); return; }
  clear(box, h('ol', { class: 'findings' }, findings.map((f) => {
    const trace = h('button', { type: 'button', class: 'secondary', text: 'Trace' });
    trace.addEventListener('click', () => showTrace(f.key_id, write));
    const revoke = write && f.revoke ? h('button', { type: 'button', class: 'danger', text: 'Revoke' }) : null;
    if (revoke) revoke.addEventListener('click', async () => { if (await revokeKey(f.key_id, f.evidence[0])) suspicious(box, write); });
    return h('li', {}, h('strong', { text: f.key_id }), ` — ${f.owner_name || f.owner} (${f.status})`,
      h('ul', {}, (f.evidence || []).map((e) => h('li', { text: e }))),
      h('div', { class: 'actions' }, trace, revoke));
  })));
}

/** render draws the page into section. */
export async function render(section, { me } = {}) {
  const write = !!(me && me.isAdmin);
  const findings = h('div', { class: 'list', 'aria-live': 'polite' });
  section.append(h('div', { class: 'page-head' }, h('h1', { text: 'Suspicious use' })), findings);
  await suspicious(findings, write);
  const keyID = field({ name: 'key_id', label: 'Key ID' });
  const actor = field({ name: 'actor', label: 'Actor', hint: 'Name or user ID of who acted (system: keyledger itself).' });
  const action = field({ name: 'action', label: 'Action', hint: 'e.g. key.revoked, key.issued, user.registered.' });
  const since = field({ name: 'since', label: 'Since', type: 'date' });
  const until = field({ name: 'until', label: 'Until', type: 'date' });
  const form = h('form', { class: 'filters grid', role: 'search', 'aria-label': 'Filter the audit trail' },
    keyID.wrap, actor.wrap, action.wrap, since.wrap, until.wrap,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', text: 'Show' })));
  const errors = h('div', { class: 'form-errors' });
  const list = h('div', { class: 'list' });
  const more = h('button', { type: 'button', class: 'secondary', text: 'Load more', hidden: true });
  section.append(h('div', { class: 'page-head' }, h('h2', { text: 'Audit trail' })), form, errors, list, more);
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
    const cols = [['Seq', (e) => String(e.seq)], ['At', (e) => when(e.at)], ['Actor', (e) => e.actor_name || e.actor], ['Action', (e) => e.action],
      ['Key', (e) => e.key_id || '—'], ['Owner', (e) => e.owner_name || e.owner || '—'], ['Detail', (e) => auditDetail(e) || '—']];
    // A name is shown; the ID it stands for is the cell's title.
    // The whole detail (a checkpoint's signed note) is the Detail cell's.
    const ids = (t, e) => (t === 'Actor' ? e.actor : t === 'Owner' ? e.owner : t === 'Detail' && e.detail ? JSON.stringify(e.detail) : '') || undefined;
    const traceButton = (e) => {
      if (!e.key_id) return h('td', {});
      const b = h('button', { type: 'button', class: 'secondary', text: 'Trace', 'data-trace': e.key_id, 'aria-label': `Trace ${e.key_id}` });
      b.addEventListener('click', () => showTrace(e.key_id, write));
      return h('td', {}, b);
    };
    clear(list, h('div', { class: 'table-wrap' }, h('table', { class: 'audit' },
      h('thead', {}, h('tr', {}, cols.map(([t]) => h('th', { scope: 'col', text: t })), h('th', { scope: 'col', text: '' }))),
      h('tbody', {}, entries.map((e) => h('tr', {}, cols.map(([t, f]) => h('td', { 'data-label': t, text: f(e), title: ids(t, e) })), traceButton(e)))))));
  };
  form.addEventListener('submit', (e) => { e.preventDefault(); load(); });
  more.addEventListener('click', () => load(true));
  await load();
  return { refresh: () => { load(); suspicious(findings, write); } };
}
