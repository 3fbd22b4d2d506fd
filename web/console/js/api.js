// The HTTP API client. The token lives in this module's memory only: never
// in Web Storage or a cookie, so closing or reloading the
// tab signs out.

let token = '';

/** setToken keeps the caller's API key for the requests that follow. */
export function setToken(t) { token = t; }

/** bearer is the Authorization header value. */
export function bearer() { return 'Bearer ' + token; }

/** onUnauthenticated is called when a signed-in request is refused. */
export const hooks = { onUnauthenticated: () => {} };

/** APIError is an error reply: a stable code and the server's message. */
export class APIError extends Error {
  constructor(code, message, status, missing = false) {
    super(message);
    this.code = code;
    this.status = status;
    this.missing = missing; // the endpoint does not exist on this server
  }
}

/**
 * call runs one catalogue entry, e.g. call('cmd.key.issue', {...}), as
 * POST /v1/cmd/key/issue, and returns the decoded reply.
 */
export async function call(name, body = {}) {
  let res;
  try {
    res = await fetch('/v1/' + name.replaceAll('.', '/'), {
      method: 'POST',
      cache: 'no-store',
      headers: { 'Content-Type': 'application/json', Authorization: bearer() },
      body: JSON.stringify(body),
    });
  } catch {
    throw new APIError('network', 'The server could not be reached.', 0);
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (res.ok) return data;
  const e = data && data.error;
  if (e && e.code) {
    const err = new APIError(e.code, e.message || '', res.status);
    if (err.code === 'unauthenticated' && token) hooks.onUnauthenticated(err);
    throw err;
  }
  if (res.status === 404) throw new APIError('not_found', `This server does not offer ${name}.`, 404, true);
  throw new APIError(res.status >= 500 ? 'internal' : 'invalid', `HTTP ${res.status}`, res.status);
}

/** What each error code means to a person, and what they can do about it. */
export const codeText = {
  unauthenticated: 'Your key was not accepted',
  forbidden: 'Your roles do not allow this',
  not_found: 'Not found',
  invalid: 'Please check the input',
  conflict: 'This clashes with the current state',
  limit_reached: 'A limit was reached',
  disabled: 'API keys are disabled',
  unavailable: 'The server is busy or catching up',
  internal: 'Something went wrong on the server',
  network: 'No connection to the server',
};

const codeHint = {
  unauthenticated: 'It may be mistyped, revoked, expired or deleted. Sign in with a working key.',
  forbidden: 'Ask an admin if you need this.',
  disabled: 'An admin can enable keys under Settings.',
  unavailable: 'Try again in a moment.',
  internal: 'Try again; if it keeps happening, tell an admin (the server log has the details).',
  network: 'Check your connection and try again.',
};

/** describe turns an error into a title and a detail line for people. */
export function describe(err) {
  const code = err instanceof APIError ? err.code : 'internal';
  const title = codeText[code] || codeText.internal;
  const msg = err instanceof APIError ? err.message : '';
  const detail = [msg, codeHint[code]].filter(Boolean).join(' ');
  return { code, title, detail };
}
