/**
 * A second way to work an equation, for training data with more than one solution path. Majority
 * voting can only beat one greedy answer when samples take paths whose mistakes differ; with one
 * canonical working per problem a sample that leaves the greedy path mostly just makes a mistake.
 * `altWork` rewrites, with probability `p` each, the simple equations of a solution through place
 * value (the leading part of one operand, then the rest), e.g.
 *   "365*7=2555."   -> "365*7=300*7+65*7=2100+455=2555."
 *   "6468/6=1078."  -> "6468/6=6000/6+468/6=1000+78=1078."
 *   "1153+648=1801." -> "1153+648=1153+600+48=1753+48=1801."
 *   "9635-598=9037." -> "9635-598=9635-500-98=9135-98=9037."
 * Only the solution text changes: the question, the answer and the split are untouched, and the
 * draws come from a generator seeded by the problem id, so the problems of a seed stay the same.
 */
import { fnv1a, Rng } from '../../../src/util/rng.ts';

/** The leading place-value part of n (6468 -> 6000, 598 -> 500); n itself below 10. */
function leading(n: number): number {
  const place = 10 ** Math.floor(Math.log10(n));
  return n - (n % place);
}

/** The place-value working of `a op b = c`, or null when that equation has none. */
export function placeValueWork(a: number, op: string, b: number, c: number): string | null {
  switch (op) {
    case '+':
    case '-': {
      if (b < 100 || a < 100) return null; // three-digit operands and up: where the carries go wrong
      const hi = leading(b);
      const lo = b - hi;
      if (lo === 0) return null;
      const mid = op === '+' ? a + hi : a - hi;
      return `${a}${op}${b}=${a}${op}${hi}${op}${lo}=${mid}${op}${lo}=${c}.`;
    }
    case '*': {
      if (b >= 10 || a < 10) return null; // two-digit multipliers already go through tens and units
      const hi = leading(a);
      const lo = a - hi;
      if (lo === 0) return null;
      return `${a}*${b}=${hi}*${b}+${lo}*${b}=${hi * b}+${lo * b}=${c}.`;
    }
    case '/': {
      if (c < 10) return null;
      const hi = leading(c);
      const lo = c - hi;
      if (lo === 0) return null;
      return `${a}/${b}=${hi * b}/${b}+${lo * b}/${b}=${hi}+${lo}=${c}.`;
    }
    default:
      return null;
  }
}

/** A simple equation of a worked solution, `a op b = c.`: the pieces altWork may rewrite. */
export const SIMPLE_EQUATION = /^(\d+)([-+*/])(\d+)=(\d+)\.$/;

/** Longest solution (characters, about one token each) a rewrite may make: answers stay well inside 360 tokens. */
export const ALT_WORK_MAX_CHARS = 300;

/** `solution` with each simple equation worked through place value with probability `p`, up to ALT_WORK_MAX_CHARS. */
export function altWork(id: string, solution: string, p: number): string {
  if (p <= 0) return solution;
  const rng = new Rng(fnv1a(id));
  const pieces = solution.split(' ');
  let length = solution.length;
  for (let i = 0; i < pieces.length; i++) {
    const m = SIMPLE_EQUATION.exec(pieces[i]!);
    if (!m) continue;
    const alt = placeValueWork(Number(m[1]), m[2]!, Number(m[3]), Number(m[4]));
    if (alt === null || rng.next() >= p || length + alt.length - pieces[i]!.length > ALT_WORK_MAX_CHARS) continue;
    length += alt.length - pieces[i]!.length;
    pieces[i] = alt;
  }
  return pieces.join(' ');
}
