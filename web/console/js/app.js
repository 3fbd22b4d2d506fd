// The console: sign-in, navigation by role, live notices, and the pages.
import { call, setToken, hooks, APIError } from './api.js';
import { h, clear, alertBox, toast, busy, field } from './dom.js';
import { startLive } from './live.js';
import * as myKeys from './page-mykeys.js';
import * as allKeys from './page-allkeys.js';
import * as users from './page-users.js';
import * as settings from './page-settings.js';
import * as audit from './page-audit.js';

const main = document.getElementById('main');
const pages = [
  { route: 'my-keys', title: 'My keys', page: myKeys, allow: (me) => me.isAdmin || me.isDeveloper },
  { route: 'all-keys', title: 'All keys', page: allKeys, allow: (me) => me.isAdmin || me.isAuditor },
  { route: 'users', title: 'Users', page: users, allow: (me) => me.isAdmin || me.isAuditor },
  { route: 'settings', title: 'Settings', page: settings, allow: (me) => me.isAdmin },
  { route: 'audit', title: 'Audit', page: audit, allow: (me) => (me.isAdmin || me.isAuditor) && me.hasAudit },
];

let me = null;
let current = null; // {route, page, instance}
let stopLive = null;

function signedOut(message) {
  if (stopLive) { stopLive(); stopLive = null; }
  setToken('');
  me = null;
  current = null;
  document.getElementById('top').hidden = true;
  if (location.hash) history.replaceState(null, '', location.pathname);
  renderSignIn(message);
}

hooks.onUnauthenticated = () => {
  if (me) signedOut('Your key stopped working (it may have been revoked, deleted or expired, or your account deactivated). Sign in with another key.');
};

function renderSignIn(message) {
  document.title = 'Sign in · keyledger';
  const f = field({ name: 'token', label: 'API key', type: 'password', hint: 'Your key (kl_…). It stays in this tab’s memory only: reloading or closing the tab signs you out.' });
  f.input.autocomplete = 'off';
  f.input.spellcheck = false;
  const errors = h('div', { class: 'form-errors' }, message ? h('div', { class: 'alert info', role: 'alert', text: message }) : null);
  const submit = h('button', { type: 'submit', class: 'primary', text: 'Sign in' });
  const form = h('form', { class: 'stack signin', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title', text: 'Sign in to keyledger' }),
    h('p', { class: 'muted', text: 'Admins set key policy and manage people; developers create their own keys; auditors read the trail.' }),
    errors, f.wrap, h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const token = f.input.value.trim();
    if (!token) {
      errors.replaceChildren(alertBox(new APIError('invalid', 'Paste your API key first.', 400)));
      f.input.focus();
      return;
    }
    await busy(submit, async () => {
      setToken(token);
      try {
        await signIn();
      } catch (err) {
        setToken('');
        errors.replaceChildren(alertBox(err));
        f.input.select();
      }
    });
  });
  clear(main, h('section', { class: 'card narrow' }, form));
  f.input.focus();
}

async function signIn() {
  const who = await call('query.whoami');
  const roles = who.roles || [];
  const m = {
    ...who,
    isAdmin: roles.includes('admin'),
    isDeveloper: roles.includes('developer'),
    isAuditor: roles.includes('auditor'),
    hasAudit: false,
  };
  if (m.isAdmin || m.isAuditor) {
    try {
      await call('query.audit', { limit: 1 });
      m.hasAudit = true;
    } catch (err) {
      m.hasAudit = !(err instanceof APIError && (err.missing || err.code === 'forbidden'));
    }
  }
  me = m;
  document.getElementById('top').hidden = false;
  document.getElementById('who').textContent = `${me.name} · ${roles.length ? roles.join(', ') : 'no roles'}`;
  renderNav();
  stopLive = startLive({
    notice: (n) => current && current.instance && current.instance.notice && current.instance.notice(n),
    resync: () => current && current.instance && current.instance.refresh && current.instance.refresh(),
    state: (s) => setLiveState(s),
    unauthenticated: () => hooks.onUnauthenticated(),
  });
  const first = pages.find((p) => p.allow(me));
  if (!first) {
    clear(main, h('section', { class: 'card' }, h('h1', { text: 'No access yet' }),
      h('p', { text: 'Your account has no roles, so there is nothing you may see or change. Ask an admin to give you a role.' })));
    return;
  }
  const want = location.hash.slice(2);
  const home = me.isAdmin || me.isAuditor ? 'all-keys' : first.route;
  if (!pages.some((p) => p.route === want && p.allow(me))) location.hash = '#/' + home;
  else route();
}

function setLiveState(s) {
  const el = document.getElementById('live');
  el.dataset.state = s;
  el.textContent = { live: 'Live', reconnecting: 'Reconnecting…', off: 'Live updates off' }[s] || '';
  el.title = s === 'live' ? 'Changes made elsewhere appear here without a reload.' : '';
}

function renderNav() {
  const ul = document.getElementById('nav');
  clear(ul, pages.filter((p) => p.allow(me)).map((p) =>
    h('li', {}, h('a', { href: '#/' + p.route, dataset: { route: p.route }, text: p.title }))));
}

async function route() {
  if (!me) return;
  const name = location.hash.slice(2);
  const entry = pages.find((p) => p.route === name && p.allow(me));
  if (!entry) { location.hash = '#/' + pages.find((p) => p.allow(me)).route; return; }
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.route === entry.route) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = entry.title + ' · keyledger';
  const section = h('section', { class: 'page', dataset: { page: entry.route } });
  clear(main, section);
  current = { route: entry.route, instance: null };
  const mine = current;
  try {
    const instance = await entry.page.render(section, { me, goto: (r) => { location.hash = '#/' + r; } });
    if (current === mine) mine.instance = instance;
  } catch (err) {
    section.append(alertBox(err));
  }
  section.dataset.ready = '';
  const heading = section.querySelector('h1');
  if (heading) { heading.tabIndex = -1; heading.focus({ preventScroll: true }); }
}

window.addEventListener('hashchange', route);
document.getElementById('signout').addEventListener('click', () => { signedOut(); toast('Signed out.'); });
renderSignIn();
