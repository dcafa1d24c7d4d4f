/**
 * The hard tier: 7-12 steps, values up to 4 digits, multi-digit multiplication (worked through
 * tens and units) and exact division by two-digit numbers, percentages, nested quantities
 * ("3 packs of 12"), a comparison with a third person as the last step, and more distractors.
 * Every value written in a solution stays within 1..9999 and every division is exact, e.g.
 *   "840/4=210. 840-210=630. 630*14=630*10+630*4=6300+2520=8820. ... The answer is 8836."
 * One step is one sentence that changes the tracked amount; percentages (worked through a fraction:
 * 25% of 840 is 840/4) and nested quantities write two or three equations for it.
 */
import type { Rng } from '../../../src/util/rng.ts';
import type { Kind, Op, Problem } from './problems.ts';
import { ADD_PHRASES, DISTRACTOR_PHRASES, DIV_PHRASES, MUL_PHRASES, OBJECTS, PEOPLE, SUB_PHRASES, type Person } from './vocab.ts';
import {
  COMPARE_FEWER, COMPARE_MORE, COMPARE_TIMES, HARD_DISTRACTOR_PHRASES, NESTED_ADD_PHRASES, NESTED_SUB_PHRASES,
  PCT_ADD_PHRASES, PCT_SUB_PHRASES,
} from './hard-vocab.ts';

export const HARD_MIN_STEPS = 7;
export const HARD_MAX_STEPS = 12;
const MAX = 9999;
const PERCENTS = [5, 10, 20, 25, 30, 40, 50, 60, 75, 80, 90];

type Event = 'add' | 'sub' | 'mul' | 'mul2' | 'div' | 'div2' | 'pct-add' | 'pct-sub' | 'nest-add' | 'nest-sub';
const EVENT_WEIGHTS: ReadonlyArray<readonly [Event, number]> = [
  ['add', 20], ['sub', 20], ['mul', 10], ['mul2', 6], ['div', 8], ['div2', 4],
  ['pct-add', 5], ['pct-sub', 8], ['nest-add', 10], ['nest-sub', 9],
];
const TOTAL_WEIGHT = EVENT_WEIGHTS.reduce((s, [, w]) => s + w, 0);
/** Fallback order when the drawn event is impossible from the current value. */
const FALLBACK: readonly Event[] = ['sub', 'add', 'div', 'mul', 'nest-sub', 'nest-add'];

/** A number with 1 to 4 digits (digit count uniform within [minDigits, 4]), clamped to [lo, hi]. */
function number4(rng: Rng, lo: number, hi: number, minDigits = 1): number | null {
  if (hi < lo) return null;
  const digits = rng.int(minDigits, 4);
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

function drawEvent(rng: Rng): Event {
  let u = rng.next() * TOTAL_WEIGHT;
  for (const [e, w] of EVENT_WEIGHTS) if ((u -= w) < 0) return e;
  return 'add';
}

/** `a*k` written through tens and units when k has two digits and is no multiple of ten. */
function productWork(a: number, k: number): string {
  if (k < 10 || k % 10 === 0) return `${a}*${k}=${a * k}.`;
  const tens = k - (k % 10);
  const units = k % 10;
  return `${a}*${k}=${a}*${tens}+${a}*${units}=${a * tens}+${a * units}=${a * k}.`;
}

/**
 * `pct` percent of `a`, worked through a fraction with a one-digit denominator (or tenths): 25% is a
 * quarter, 75% three quarters, 40% two fifths, 30% three tenths, 5% half of a tenth.
 */
function percentWork(a: number, pct: number): string {
  const [den, num] = pct === 5 ? [10, 0] : pct % 25 === 0 ? [4, pct / 25] : pct % 20 === 0 ? [5, pct / 20] : [10, pct / 10];
  const unit = a / den;
  if (pct === 5) return `${a}/10=${unit}. ${unit}/2=${unit / 2}.`;
  if (num === 1 || (den === 4 && num === 2)) return den === 4 && num === 2 ? `${a}/2=${a / 2}.` : `${a}/${den}=${unit}.`;
  return `${a}/${den}=${unit}. ${unit}*${num}=${unit * num}.`;
}

interface Step { sentence: string; work: string; op: Op; next: number; feature?: 'percent' | 'nested' }

/** One step from `cur`, or null when this event cannot apply to it. */
function tryEvent(rng: Rng, e: Event, cur: number, vars: Record<string, string | number>): Step | null {
  switch (e) {
    case 'add': {
      const b = number4(rng, 1, MAX - cur);
      return b === null ? null : { sentence: fill(rng.pick(ADD_PHRASES), { ...vars, b }), work: `${cur}+${b}=${cur + b}.`, op: '+', next: cur + b };
    }
    case 'sub': {
      const b = cur > 1 ? number4(rng, 1, cur - 1) : null;
      return b === null ? null : { sentence: fill(rng.pick(SUB_PHRASES), { ...vars, b }), work: `${cur}-${b}=${cur - b}.`, op: '-', next: cur - b };
    }
    case 'mul': {
      const maxK = Math.min(9, Math.floor(MAX / cur));
      if (maxK < 2) return null;
      const k = rng.int(2, maxK);
      return { sentence: fill(rng.pick(MUL_PHRASES), { ...vars, k }), work: productWork(cur, k), op: '*', next: cur * k };
    }
    case 'mul2': {
      const maxK = Math.min(99, Math.floor(MAX / cur));
      if (maxK < 11) return null;
      const k = rng.int(11, maxK);
      return { sentence: fill(rng.pick(MUL_PHRASES), { ...vars, k }), work: productWork(cur, k), op: '*', next: cur * k };
    }
    case 'div':
    case 'div2': {
      const [lo, hi] = e === 'div' ? [2, 9] : [11, 99];
      const ks: number[] = [];
      for (let k = lo; k <= hi; k++) if (cur % k === 0 && cur / k >= 2) ks.push(k);
      if (!ks.length) return null;
      const k = rng.pick(ks);
      return { sentence: fill(rng.pick(DIV_PHRASES), { ...vars, k }), work: `${cur}/${k}=${cur / k}.`, op: '/', next: cur / k };
    }
    case 'pct-add':
    case 'pct-sub': {
      const add = e === 'pct-add';
      const ok = PERCENTS.filter((p) => (cur * p) % 100 === 0 && cur * p / 100 >= 1 && (add ? cur + cur * p / 100 <= MAX : cur * p < cur * 100));
      if (!ok.length) return null;
      const pct = rng.pick(ok);
      const part = cur * pct / 100;
      const next = add ? cur + part : cur - part;
      const sentence = fill(rng.pick(add ? PCT_ADD_PHRASES : PCT_SUB_PHRASES), { ...vars, pct });
      return { sentence, work: `${percentWork(cur, pct)} ${cur}${add ? '+' : '-'}${part}=${next}.`, op: add ? '+' : '-', next, feature: 'percent' };
    }
    case 'nest-add':
    case 'nest-sub': {
      const add = e === 'nest-add';
      const room = add ? MAX - cur : cur - 1;
      const a = rng.int(2, 9);
      const maxB = Math.min(99, Math.floor(room / a));
      if (maxB < 2) return null;
      const b = rng.int(2, maxB);
      const part = a * b;
      const next = add ? cur + part : cur - part;
      const sentence = fill(rng.pick(add ? NESTED_ADD_PHRASES : NESTED_SUB_PHRASES), { ...vars, a, b });
      return { sentence, work: `${a}*${b}=${part}. ${cur}${add ? '+' : '-'}${part}=${next}.`, op: add ? '+' : '-', next, feature: 'nested' };
    }
  }
}

/** The closing comparison: the third person's amount from the main person's; never fails. */
function compareStep(rng: Rng, cur: number, vars: Record<string, string | number>): Step {
  const u = rng.next();
  const maxK = Math.floor(MAX / cur);
  if (u < 0.25 && maxK >= 2) {
    const k = rng.int(2, Math.min(9, maxK));
    return { sentence: fill(COMPARE_TIMES, { ...vars, k }), work: productWork(cur, k), op: '*', next: cur * k };
  }
  if ((u < 0.65 || cur < 3) && cur < MAX) {
    const d = number4(rng, 1, MAX - cur)!;
    return { sentence: fill(COMPARE_MORE, { ...vars, d }), work: `${cur}+${d}=${cur + d}.`, op: '+', next: cur + d };
  }
  const d = number4(rng, 1, cur - 1)!;
  return { sentence: fill(COMPARE_FEWER, { ...vars, d }), work: `${cur}-${d}=${cur - d}.`, op: '-', next: cur - d };
}

function distractor(rng: Rng, vars: Record<string, string | number>): string {
  const c = number4(rng, 1, MAX)!;
  const pool = rng.chance(0.5) ? DISTRACTOR_PHRASES : HARD_DISTRACTOR_PHRASES;
  return fill(rng.pick(pool), { ...vars, c });
}

function otherPerson(rng: Rng, not: readonly Person[]): Person {
  let p = rng.pick(PEOPLE);
  while (not.some((q) => q.name === p.name)) p = rng.pick(PEOPLE);
  return p;
}

/** Generates one hard-tier problem from the random source; never fails. */
export function generateHardProblem(rng: Rng, id: string): Problem {
  const steps = rng.int(HARD_MIN_STEPS, HARD_MAX_STEPS);
  const compare = rng.chance(0.25);
  const distract = rng.chance(0.6);
  const person = rng.pick(PEOPLE);
  const other = otherPerson(rng, [person]);
  const third = otherPerson(rng, [person, other]);
  const obj = rng.pick(OBJECTS);
  let obj2 = rng.pick(OBJECTS);
  while (obj2 === obj) obj2 = rng.pick(OBJECTS);
  const vars = {
    p: person.pronoun, pl: person.pronoun.toLowerCase(), q: person.possessive, m: person.object, o: obj,
    n: other.name, o2: obj2, t: third.name, name: person.name,
  };

  let cur = number4(rng, 10, MAX, 2)!;
  const sentences = [`${person.name} has ${cur} ${obj}.`];
  const work: string[] = [];
  const ops: Op[] = [];
  const features = new Set<string>();
  let distractors = 0;
  for (let i = 0; i < steps - (compare ? 1 : 0); i++) {
    const drawn = drawEvent(rng);
    let step: Step | null = null;
    for (const e of [drawn, ...FALLBACK.filter((f) => f !== drawn)]) if ((step = tryEvent(rng, e, cur, vars))) break;
    if (!step) throw new Error(`no step applies to ${cur}`); // unreachable: 'sub' or 'add' always applies
    sentences.push(step.sentence);
    work.push(step.work);
    ops.push(step.op);
    if (step.feature) features.add(step.feature);
    cur = step.next;
    if (distract && rng.chance(0.3) && distractors < 3) {
      sentences.splice(rng.int(1, sentences.length), 0, distractor(rng, vars));
      distractors++;
    }
  }
  if (distract && distractors === 0) sentences.splice(rng.int(1, sentences.length), 0, distractor(rng, vars));
  if (compare) {
    const step = compareStep(rng, cur, vars);
    sentences.push(step.sentence);
    work.push(step.work);
    ops.push(step.op);
    cur = step.next;
    sentences.push(`How many ${obj} does ${third.name} have?`);
  } else {
    sentences.push(`How many ${obj} does ${person.name} have now?`);
  }
  const hasAddSub = ops.some((o) => o === '+' || o === '-');
  const hasMulDiv = ops.some((o) => o === '*' || o === '/');
  const kind: Kind = compare ? 'compare' : features.has('percent') ? 'percent' : features.has('nested') ? 'nested'
    : distract ? 'distractor' : hasAddSub && hasMulDiv ? 'mixed' : hasMulDiv ? 'mul-div' : 'add-sub';
  return {
    id,
    question: sentences.join(' '),
    solution: `${work.join(' ')} The answer is ${cur}.`,
    answer: cur,
    steps: ops.length,
    ops,
    kind,
    tier: 'hard',
  };
}
