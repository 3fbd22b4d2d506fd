// Live notices: GET /v1/live read with fetch() and a ReadableStream, so the
// request can carry the Authorization header (EventSource cannot).
import { bearer } from './api.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * startLive streams notices until the returned stop() is called.
 * on: {notice(n), resync(), state('live'|'reconnecting'|'off'), unauthenticated()}.
 */
export function startLive(on) {
  let stopped = false;
  let ctrl = null;
  let connectedBefore = false;
  const dispatch = (block) => {
    let event = 'message', data = '';
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const name = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (name === 'event') event = value;
      else if (name === 'data') data += (data ? '\n' : '') + value;
    }
    if (event === 'resync') on.resync();
    else if (event === 'notice' && data) {
      try { on.notice(JSON.parse(data)); } catch { /* a malformed line is skipped */ }
    }
  };
  (async () => {
    let backoff = 1000;
    while (!stopped) {
      ctrl = new AbortController();
      try {
        const res = await fetch('/v1/live', { headers: { Authorization: bearer(), Accept: 'text/event-stream' }, cache: 'no-store', signal: ctrl.signal });
        if (res.status === 401) { on.unauthenticated(); return; }
        if (res.status === 404 || res.status === 403) { on.state('off'); return; }
        if (!res.ok) throw new Error('HTTP ' + res.status);
        on.state('live');
        if (connectedBefore) on.resync(); // catch up on what happened while away
        connectedBefore = true;
        backoff = 1000;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i;
          while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i).replace(/^\r?\n\r?\n/, '');
            dispatch(block);
          }
        }
      } catch {
        if (stopped) return;
      }
      if (stopped) return;
      on.state('reconnecting');
      await sleep(backoff);
      backoff = Math.min(backoff * 2, 15000);
    }
  })();
  return () => { stopped = true; if (ctrl) ctrl.abort(); };
}
