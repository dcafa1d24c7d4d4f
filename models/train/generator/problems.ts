/**
 * Multi-step arithmetic word problems with a worked solution, e.g.
 *   question: "Ann has 7 pens. She buys 5 more. She gives 3 away. How many pens does Ann have now?"
 *   solution: "7+5=12. 12-3=9. The answer is 9."
 * Every intermediate value stays within 1..999 and divisions are exact, so a small model can
 * learn them; difficulty grows with the number of steps, the digits and distractor sentences.
 */
import { Rng } from '../../../src/util/rng.ts';
import {
  ADD_PHRASES, DISTRACTOR_PHRASES, DIV_PHRASES, MUL_PHRASES, OBJECTS, PEOPLE, SUB_PHRASES,
  type Person,
} from './vocab.ts';

export type Op = '+' | '-' | '*' | '/';
export type Kind = 'add-sub' | 'mul-div' | 'mixed' | 'distractor' | 'percent' | 'nested' | 'compare';
/** Difficulty tier: `standard` (1-6 steps, values up to 999) or `hard` (see hard.ts). */
export type Tier = 'standard' | 'hard';

/** One generated problem, as written to JSONL. */
export interface Problem {
  id: string;
  question: string;
  solution: string;
  answer: number;
  steps: number;
  ops: Op[];
  kind: Kind;
  tier: Tier;
}

export const MIN_STEPS = 1;
export const MAX_STEPS = 6;
const MAX_VALUE = 999;

/** A number with 1 to 3 digits (digit count uniform), clamped to [lo, hi]; null if empty range. */
function number(rng: Rng, lo: number, hi: number): number | null {
  if (hi < lo) return null;
  const digits = rng.int(1, 3);
  const dlo = Math.max(lo, digits === 1 ? 1 : 10 ** (digits - 1));
  const dhi = Math.min(hi, 10 ** digits - 1);
  return dlo <= dhi ? rng.int(dlo, dhi) : rng.int(lo, hi);
}

function fill(template: string, vars: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (_, key: string) => {
    const v = vars[key];
    if (v === undefined) throw new Error(`template variable {${key}} missing`);
    return String(v);
  });
}

/** Picks the operations of a problem, given its style. */
function planOps(rng: Rng, steps: number, style: 'add-sub' | 'mul-div' | 'mixed'): Op[] {
  const pool: Op[] = style === 'add-sub' ? ['+', '-'] : style === 'mul-div' ? ['*', '/'] : ['+', '-', '*', '/'];
  const ops: Op[] = [];
  for (let i = 0; i < steps; i++) ops.push(rng.pick(pool));
  return ops;
}

/** Applies one operation to `cur`, choosing an operand that keeps values in range; null if impossible. */
function operand(rng: Rng, op: Op, cur: number): number | null {
  switch (op) {
    case '+': return number(rng, 1, MAX_VALUE - cur);
    case '-': return cur > 1 ? number(rng, 1, cur - 1) : null;
    case '*': {
      const maxK = Math.min(9, Math.floor(MAX_VALUE / cur));
      return maxK >= 2 ? rng.int(2, maxK) : null;
    }
    case '/': {
      const divisors: number[] = [];
      for (let k = 2; k <= 9; k++) if (cur % k === 0 && cur / k >= 1) divisors.push(k);
      return divisors.length ? rng.pick(divisors) : null;
    }
  }
}

function apply(op: Op, a: number, b: number): number {
  return op === '+' ? a + b : op === '-' ? a - b : op === '*' ? a * b : a / b;
}

/** Generates one problem from the random source; never fails (falls back to other ops). */
export function generateProblem(rng: Rng, id: string): Problem {
  const steps = rng.int(MIN_STEPS, MAX_STEPS);
  const style = rng.pick(['add-sub', 'mul-div', 'mixed', 'mixed'] as const);
  const distract = rng.chance(0.25);
  const person: Person = rng.pick(PEOPLE);
  let other: Person = rng.pick(PEOPLE);
  while (other.name === person.name) other = rng.pick(PEOPLE);
  const obj = rng.pick(OBJECTS);
  let obj2 = rng.pick(OBJECTS);
  while (obj2 === obj) obj2 = rng.pick(OBJECTS);

  const wanted = planOps(rng, steps, style);
  // Mul/div chains need a start value with small factors; pick it so the first op is possible.
  let cur = style === 'mul-div' ? rng.int(2, 60) * rng.pick([1, 2, 4, 6, 12]) : number(rng, 1, MAX_VALUE)!;
  cur = Math.min(cur, MAX_VALUE);
  const start = cur;
  const sentences: string[] = [`${person.name} has ${start} ${obj}.`];
  const work: string[] = [];
  const ops: Op[] = [];
  const vars = { p: person.pronoun, pl: person.pronoun.toLowerCase(), q: person.possessive, m: person.object, o: obj, n: other.name, o2: obj2 };
  for (const want of wanted) {
    const order: Op[] = [want, ...(['+', '-', '*', '/'] as Op[]).filter((o) => o !== want)];
    for (const op of order) {
      const b = operand(rng, op, cur);
      if (b === null) continue;
      const phrases = op === '+' ? ADD_PHRASES : op === '-' ? SUB_PHRASES : op === '*' ? MUL_PHRASES : DIV_PHRASES;
      const phrase = rng.pick(phrases);
      const vb: Record<string, number> = op === '*' || op === '/' ? { k: b } : { b };
      sentences.push(fill(phrase, { ...vars, ...vb }));
      const next = apply(op, cur, b);
      work.push(`${cur}${op}${b}=${next}.`);
      ops.push(op);
      cur = next;
      break;
    }
    if (distract && rng.chance(0.35)) {
      const c = number(rng, 1, MAX_VALUE)!;
      const at = rng.int(1, sentences.length);
      sentences.splice(at, 0, fill(rng.pick(DISTRACTOR_PHRASES), { ...vars, c }));
    }
  }
  if (distract && sentences.length === ops.length + 1) {
    const c = number(rng, 1, MAX_VALUE)!;
    sentences.splice(rng.int(1, sentences.length), 0, fill(rng.pick(DISTRACTOR_PHRASES), { ...vars, c }));
  }
  sentences.push(`How many ${obj} does ${person.name} have now?`);
  const hasAddSub = ops.some((o) => o === '+' || o === '-');
  const hasMulDiv = ops.some((o) => o === '*' || o === '/');
  const kind: Kind = distract ? 'distractor' : hasAddSub && hasMulDiv ? 'mixed' : hasMulDiv ? 'mul-div' : 'add-sub';
  return {
    id,
    question: sentences.join(' '),
    solution: `${work.join(' ')} The answer is ${cur}.`,
    answer: cur,
    steps: ops.length,
    ops,
    kind,
    tier: 'standard',
  };
}
