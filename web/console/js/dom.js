// Building DOM without innerHTML: every value is set as text, so nothing a
// server or a user typed is ever parsed as markup.
import { describe } from './api.js';

/**
 * h creates an element. attrs: class, text, on<event> handlers, dataset
 * (object), and any other attribute (false/null leave it out).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked' || k === 'disabled' || k === 'hidden' || k === 'required' || k === 'selected') el[k] = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** clear empties el and fills it with children. */
export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/**
 * keepFocus replaces el's content with build()'s and, if focus was on a
 * control inside, puts it back on the same control of the same row, so a
 * live refresh does not throw a keyboard user back to the top.
 */
export function keepFocus(el, build) {
  const active = document.activeElement;
  let again = null;
  if (active && el.contains(active)) {
    const row = active.closest('tr');
    const id = row && (row.dataset.keyId || row.dataset.userId);
    const label = active.getAttribute('aria-label');
    if (id && label) again = (root) => [...root.querySelectorAll('[aria-label]')].find((c) => c.getAttribute('aria-label') === label && (c.closest('tr')?.dataset.keyId === id || c.closest('tr')?.dataset.userId === id));
  }
  clear(el, build());
  const target = again && again(el);
  if (target) target.focus({ preventScroll: true });
}

/** alertBox shows an error with its plain-language title. */
export function alertBox(err) {
  const d = describe(err);
  return h('div', { class: 'alert', role: 'alert', dataset: { code: d.code } },
    h('strong', { text: d.title + '.' }), ' ', h('span', { text: d.detail }));
}

let toastTimer = 0;

/** toast announces a short message in the status region. */
export function toast(message, kind = 'ok') {
  const el = document.getElementById('toast');
  el.className = 'toast show ' + kind;
  el.textContent = message;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.className = 'toast'; el.textContent = ''; }, 6000);
}

/** busy disables a button while work runs, and re-enables it afterwards. */
export async function busy(button, work) {
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    button.textContent = label;
  }
}

/**
 * field builds a labelled input with a hint and an error slot.
 * opts: {name, label, hint, type, value, input (an element to use)}.
 */
export function field(opts) {
  const id = 'f-' + opts.name.replaceAll('.', '-') + '-' + Math.random().toString(36).slice(2, 7);
  const input = opts.input || h('input', { type: opts.type || 'text', value: opts.value ?? '', autocomplete: 'off' });
  input.id = id;
  input.name = opts.name;
  const hint = opts.hint ? h('p', { class: 'hint', id: id + '-hint', text: opts.hint }) : null;
  const error = h('p', { class: 'field-error', id: id + '-error', dataset: { errorFor: opts.name }, hidden: true });
  input.setAttribute('aria-describedby', [hint && hint.id, error.id].filter(Boolean).join(' '));
  const wrap = h('div', { class: 'field', dataset: { field: opts.name } },
    h('label', { for: id, text: opts.label }), input, hint, error);
  return { wrap, input, error };
}

/**
 * showFieldErrors puts an invalid error's message beside the field it
 * names (the server's messages start with the field), or returns false so
 * the caller shows it above the form.
 */
export function showFieldErrors(form, err, aliases = {}) {
  for (const el of form.querySelectorAll('.field-error')) { el.hidden = true; el.textContent = ''; }
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  if (!err || err.code !== 'invalid') return false;
  const names = [...form.querySelectorAll('.field-error')].map((el) => el.dataset.errorFor);
  const candidates = [...names, ...Object.keys(aliases)].sort((a, b) => b.length - a.length);
  const hit = candidates.find((n) => new RegExp('^' + n.replaceAll('.', '\\.') + '(\\b|$)').test(err.message));
  if (!hit) return false;
  const name = aliases[hit] || hit;
  const slot = form.querySelector(`.field-error[data-error-for="${CSS.escape(name)}"]`);
  if (!slot) return false;
  slot.textContent = err.message;
  slot.hidden = false;
  const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
  if (input) { input.setAttribute('aria-invalid', 'true'); input.focus(); }
  return true;
}
