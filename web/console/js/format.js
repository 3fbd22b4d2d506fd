// Times and ISO 8601 periods, shown the same way on every page.

/** when shows an RFC 3339 time as "2026-11-23 12:40 UTC", or a dash. */
export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (isNaN(d)) return iso;
  return d.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
}

/** relative says "in 3 days" or "2 hours ago". */
export function relative(iso, now = Date.now()) {
  if (!iso) return '';
  const ms = new Date(iso).getTime() - now;
  const abs = Math.abs(ms);
  const units = [['day', 864e5], ['hour', 36e5], ['minute', 6e4]];
  for (const [name, size] of units) {
    if (abs >= size) {
      const n = Math.round(abs / size);
      const s = `${n} ${name}${n === 1 ? '' : 's'}`;
      return ms >= 0 ? 'in ' + s : s + ' ago';
    }
  }
  return ms >= 0 ? 'in under a minute' : 'just now';
}

/** days approximates an ISO 8601 period in days (months as 30, years as 365), or NaN. */
export function days(p) {
  const m = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(p || '');
  if (!m || p === 'P' || p.endsWith('T')) return NaN;
  const [y, mo, w, d, hh, mm, ss] = m.slice(1).map((x) => Number(x || 0));
  return y * 365 + mo * 30 + w * 7 + d + hh / 24 + mm / 1440 + ss / 86400;
}

/** period shows "P90D" as "90 days"; "never" and "none" as they are. */
export function period(p) {
  if (p === 'never' || p === 'none' || !p) return p || '—';
  const m = /^P(\d+)([DWMY])$/.exec(p);
  const names = { D: 'day', W: 'week', M: 'month', Y: 'year' };
  if (m) return `${m[1]} ${names[m[2]]}${m[1] === '1' ? '' : 's'}`;
  const t = /^PT(\d+)([HMS])$/.exec(p);
  const tnames = { H: 'hour', M: 'minute', S: 'second' };
  if (t) return `${t[1]} ${tnames[t[2]]}${t[1] === '1' ? '' : 's'}`;
  return p;
}

/** timeCell is a <time> with the UTC time and, below it, how far off it is. */
export function timeCell(h, iso, opts = {}) {
  if (!iso) return h('span', { class: 'muted', text: opts.none || '—' });
  return h('span', {}, h('time', { datetime: iso, text: when(iso) }), h('br'),
    h('small', { class: 'muted', text: relative(iso) }));
}
