// Modal dialogs on the native <dialog>: the page behind is inert, Tab stays
// inside, Escape closes, and focus returns to what opened it.
import { h, busy, alertBox } from './dom.js';

const focusable = 'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

/**
 * openDialog shows a modal. opts: {title, body: [nodes], actions: [buttons],
 * label (data-dialog), onClose}. Returns {dialog, close, content}.
 */
export function openDialog(opts) {
  const opener = document.activeElement;
  const titleId = 'dlg-' + Math.random().toString(36).slice(2, 8);
  const content = h('div', { class: 'dialog-body' }, opts.body || []);
  const dialog = h('dialog', { 'aria-labelledby': titleId, dataset: { dialog: opts.label || '' } },
    h('h2', { id: titleId, text: opts.title }), content,
    opts.actions ? h('div', { class: 'actions' }, opts.actions) : null);
  let closed = false;
  const close = (value) => {
    if (closed) return;
    closed = true;
    if (dialog.open) dialog.close();
    dialog.remove();
    if (opener && opener.isConnected && opener.focus) opener.focus();
    if (opts.onClose) opts.onClose(value);
  };
  dialog.addEventListener('cancel', (e) => { e.preventDefault(); close(undefined); });
  dialog.addEventListener('keydown', (e) => {
    if (e.key !== 'Tab') return;
    const items = [...dialog.querySelectorAll(focusable)].filter((el) => el.offsetParent !== null);
    if (items.length === 0) return;
    const first = items[0], last = items[items.length - 1];
    if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
    else if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus(); }
  });
  document.body.append(dialog);
  dialog.showModal();
  const first = dialog.querySelector('[autofocus]') || dialog.querySelector(focusable);
  if (first) first.focus();
  return { dialog, close, content };
}

/**
 * formDialog shows a form in a modal; submit(form, values) runs the command
 * and returns its result or throws. Resolves with the result, or undefined
 * if the dialog was closed.
 */
export function formDialog({ title, fields, submitLabel, danger, label, submit, intro }) {
  return new Promise((resolve) => {
    const errors = h('div', { class: 'form-errors' });
    const ok = h('button', { type: 'submit', class: danger ? 'danger' : 'primary', text: submitLabel });
    const cancel = h('button', { type: 'button', class: 'secondary', text: 'Cancel' });
    const form = h('form', { class: 'stack', novalidate: true }, intro || null, errors, fields,
      h('div', { class: 'actions' }, cancel, ok));
    let result;
    const d = openDialog({ title, body: [form], label, onClose: () => resolve(result) });
    cancel.addEventListener('click', () => d.close());
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      errors.replaceChildren();
      await busy(ok, async () => {
        try {
          result = await submit(form);
          d.close();
        } catch (err) {
          if (!(err && err.shown)) errors.replaceChildren(alertBox(err));
        }
      });
    });
  });
}

/** confirmDialog asks a yes/no question; resolves true on confirm. */
export function confirmDialog({ title, message, confirmLabel, danger = true, label }) {
  return new Promise((resolve) => {
    let answer = false;
    const yes = h('button', { type: 'button', class: danger ? 'danger' : 'primary', text: confirmLabel });
    const no = h('button', { type: 'button', class: 'secondary', text: 'Cancel', autofocus: true });
    const d = openDialog({ title, label, body: [h('p', { text: message })], actions: [no, yes], onClose: () => resolve(answer) });
    no.addEventListener('click', () => d.close());
    yes.addEventListener('click', () => { answer = true; d.close(); });
  });
}

/**
 * tokenDialog shows a new token once, with a copy button and a warning.
 * Resolves when the person closes it.
 */
export function tokenDialog(key) {
  return new Promise((resolve) => {
    const token = h('textarea', { class: 'token', readonly: true, rows: 3, spellcheck: 'false', 'aria-label': 'New API key', dataset: { token: '' } });
    token.value = key.token;
    const status = h('p', { class: 'copy-status', role: 'status', 'aria-live': 'polite' });
    const copy = h('button', { type: 'button', class: 'primary', text: 'Copy key', autofocus: true });
    const done = h('button', { type: 'button', class: 'secondary', text: 'I have stored it — close' });
    copy.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(token.value);
        status.textContent = 'Copied to the clipboard.';
      } catch {
        token.focus();
        token.select();
        status.textContent = 'Copying was blocked: the key is selected, press Ctrl+C (⌘C on a Mac).';
      }
    });
    const d = openDialog({
      title: `Key “${key.name}” is ready`, label: 'token',
      body: [
        h('p', { class: 'warning', role: 'note' },
          h('strong', { text: 'Copy this key now. ' }),
          'It is shown only this once: keyledger keeps only a hash of it. Anyone who has it can act with it, so store it in a secret manager and never paste it into chat, tickets or code.'),
        token,
        h('p', { class: 'muted' }, 'Key ID ', h('code', { text: key.key_id }), key.expires_at ? ` · expires ${key.expires_at.slice(0, 10)}` : ' · never expires'),
        status,
      ],
      actions: [done, copy],
      onClose: () => { token.value = ''; resolve(); },
    });
    done.addEventListener('click', () => d.close());
  });
}
