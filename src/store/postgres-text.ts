/**
 * PostgreSQL's text and jsonb hold no U+0000 (a NUL in any value fails the whole statement, and a
 * batch insert with it every record of the batch). Requests may carry one (JSON allows "\u0000" in
 * a prompt), so the PostgreSQL engine stores it as U+FFFD, the replacement character; SQLite keeps
 * text as given.
 */

const NUL = /\u0000/g;

/** `v` with every U+0000 in its strings (keys too, at any depth) replaced by U+FFFD; other values as they are. */
export function withoutNul<T>(v: T): T {
  if (typeof v === 'string') return (v.includes('\u0000') ? v.replace(NUL, '\ufffd') : v) as T;
  if (Array.isArray(v)) return v.map(withoutNul) as T;
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[withoutNul(k)] = withoutNul(x);
    return out as T;
  }
  return v;
}
