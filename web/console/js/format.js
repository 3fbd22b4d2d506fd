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

/** shown is one JSON value as a person reads it: text bare, the rest as JSON. */
function shown(v) {
  if (v === undefined || v === null || v === '') return '—';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/**
 * auditDetail is an audit entry's detail for people, as the CLI's table
 * shows it: a checkpoint or co-signature by its tree size (the signed note
 * is in the API's answer), a change as the fields that changed
 * ("max_expiry: P90D → P30D"), a reason as itself, anything else as JSON.
 */
export function auditDetail(e) {
  const d = e.detail;
  if (d === undefined || d === null || d === '') return '';
  if (typeof d !== 'object') return String(d);
  if ((e.action === 'audit.checkpoint' || e.action === 'audit.cosigned') && typeof d.size === 'number') {
    return `tree size ${d.size} ${e.action === 'audit.cosigned' ? 'co-signed' : 'signed'}`;
  }
  if (d.before !== undefined && d.after && typeof d.after === 'object' && !Array.isArray(d.after)) {
    const before = d.before && typeof d.before === 'object' ? d.before : {};
    const parts = Object.keys(d.after).sort().filter((k) => k !== 'updated_at' && k !== 'updated_by')
      .filter((k) => JSON.stringify(before[k]) !== JSON.stringify(d.after[k]))
      .map((k) => `${k}: ${shown(before[k])} → ${shown(d.after[k])}`);
    return parts.length ? parts.join(', ') : 'no change';
  }
  if (d.before !== undefined && Array.isArray(d.after)) return `${shown(d.before)} → ${shown(d.after)}`;
  const keys = Object.keys(d);
  if (keys.length === 1 && keys[0] === 'reason') return `reason: ${d.reason}`;
  return keys.length ? JSON.stringify(d) : '';
}
