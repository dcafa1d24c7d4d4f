/**
 * Answer extraction (the vote that uses it is in vote.ts). The default extractor takes the content of the last
 * `\boxed{…}` (braces balanced), else the number after the last "The answer is"; a request can pass
 * its own regular expression (`skip.answer_pattern`): the last match's first capture group, or the
 * whole match when it has none. Answers are normalised before voting.
 */

const ANSWER_IS = /the answer is\s*:?\s*\$?\s*(-?\d[\d,]*(?:\.\d+)?|-?\.\d+)/gi;

/** Content of the last `\boxed{...}` with balanced braces, or null. */
function lastBoxed(text: string): string | null {
  const at = text.lastIndexOf('\\boxed{');
  if (at < 0) return null;
  let depth = 0;
  for (let i = at + 6; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return text.slice(at + 7, i);
  }
  return null;
}

/** Last match of a global regexp: its first group, or the whole match. */
function lastMatch(text: string, re: RegExp): string | null {
  const g = new RegExp(re.source, re.flags.includes('g') ? re.flags : re.flags + 'g');
  let found: string | null = null;
  for (const m of text.matchAll(g)) found = m[1] ?? m[0];
  return found;
}

/** Extracts the raw answer from a completion: custom pattern, else \boxed{}, else "The answer is N". */
export function extractAnswer(text: string, pattern?: RegExp): string | null {
  const raw = pattern ? lastMatch(text, pattern) : (lastBoxed(text) ?? lastMatch(text, ANSWER_IS));
  if (raw === null) return null;
  const norm = normalizeAnswer(raw);
  return norm === '' ? null : norm;
}

/** Normalises an answer for voting: trims, drops `$`, trailing dots and thousands separators, canonical numbers. */
export function normalizeAnswer(raw: string): string {
  let s = raw.replace(/^[\s$]+|[\s$.]+$/g, '');
  s = s.replace(/\\text\{([^}]*)\}/g, '$1').replace(/\s+/g, ' ');
  const numeric = s.replace(/(\d),(?=\d{3}\b)/g, '$1');
  if (/^-?(\d+\.?\d*|\.\d+)$/.test(numeric)) {
    const n = Number(numeric);
    if (Number.isFinite(n)) return String(n);
  }
  return s.toLowerCase();
}

/** Compiles a request's answer pattern; throws a SyntaxError message for a bad one. */
export function compileAnswerPattern(source: string): RegExp {
  return new RegExp(source, 'g');
}
