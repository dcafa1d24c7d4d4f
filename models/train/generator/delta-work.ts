/**
 * A second solution path whose steps are easier than the direct ones, for training data on which
 * majority voting has mistakes that differ to outvote. A run of two or more consecutive steps that
 * add or take away an amount (a literal, or a product worked just before: "3 packs of 12") is
 * worked, with probability `p` per run, by first adding up the amounts in text order (small
 * numbers), then applying the net change to the tracked amount once:
 *   "151+811=962. 962+875=1837. 1837-679=1158."  ->  "811+875=1686. 1686-679=1007. 151+1007=1158."
 *   "930-12=918. 6*40=240. 918-240=678."          ->  "6*40=240. 12+240=252. 930-252=678."
 * The direct path does four-digit arithmetic at every step; this one at the last. The same
 * number of equations, read in the same order. A run is cut from its start into the longest
 * pieces whose partial sums keep one sign (so no negative numbers appear) and stay within 1..9999;
 * each piece of two or more steps is rewritten with probability `p`. Steps that
 * scale the amount (times, divided, percentages) and the closing comparison end a run. Only the
 * solution text changes: question, answer and split are untouched; the draws come from a generator
 * seeded by the problem id, so the problems of a seed stay the same.
 */
import { fnv1a, Rng } from '../../../src/util/rng.ts';
import type { Problem } from './problems.ts';

/** One equation of a solution: its first operation `a op b` and its final value `v`. */
interface Equation {
  text: string;
  a: number;
  op: string;
  b: number;
  v: number;
}

/** A step of the tracked amount: an amount added or taken away (`part`, after a product `product` when nested), or anything else. */
type Unit = { move: true; sign: 1 | -1; part: number; product: string | null; from: number; to: number; text: string[] } | { move: false; text: string[] };

const FIRST = /^(\d+)([-+*/])(\d+)=/;
const LAST = /=(\d+)\.$/;

function parse(text: string): Equation | null {
  const f = FIRST.exec(text);
  const l = LAST.exec(text);
  return f && l ? { text, a: Number(f[1]), op: f[2]!, b: Number(f[3]), v: Number(l[1]) } : null;
}

/** The solution's steps, following the tracked amount from `start`; null when the working does not read as this generator writes it. */
function units(eqs: Equation[], start: number, closingComparison: boolean): Unit[] | null {
  const out: Unit[] = [];
  let cur = start;
  for (let i = 0; i < eqs.length; ) {
    const e = eqs[i]!;
    const next = eqs[i + 1];
    const after = eqs[i + 2];
    const additive = (x: Equation | undefined) => x !== undefined && (x.op === '+' || x.op === '-');
    if (e.a === cur && additive(e)) {
      out.push({ move: true, sign: e.op === '+' ? 1 : -1, part: e.b, product: null, from: cur, to: e.v, text: [e.text] });
      cur = e.v;
      i += 1;
    } else if (e.a === cur) {
      // Times or divided: a percentage (a part of the amount, then the amount plus or minus it) or a scaling step.
      if (e.op === '/' && next && additive(next) && next.a === cur && next.b === e.v) {
        out.push({ move: false, text: [e.text, next.text] });
        cur = next.v;
        i += 2;
      } else if (e.op === '/' && next && after && next.a === e.v && additive(after) && after.a === cur && after.b === next.v && next.v < cur) {
        out.push({ move: false, text: [e.text, next.text, after.text] });
        cur = after.v;
        i += 3;
      } else {
        out.push({ move: false, text: [e.text] });
        cur = e.v;
        i += 1;
      }
    } else if (e.op === '*' && next && additive(next) && next.a === cur && next.b === e.v) {
      out.push({ move: true, sign: next.op === '+' ? 1 : -1, part: e.v, product: e.text, from: cur, to: next.v, text: [e.text, next.text] });
      cur = next.v;
      i += 2;
    } else {
      return null;
    }
  }
  // The closing comparison is about another person: it ends the working and never joins a run.
  if (closingComparison && out.length) out[out.length - 1] = { move: false, text: out[out.length - 1]!.text };
  return out;
}

/** The run worked through its net change, or null when a partial sum changes sign or leaves 1..9999. */
function netChange(run: Extract<Unit, { move: true }>[]): string[] | null {
  const sums: number[] = [];
  let d = 0;
  for (const u of run) sums.push((d += u.sign * u.part));
  const sign = Math.sign(sums[0]!);
  if (sums.some((s) => Math.sign(s) !== sign || Math.abs(s) > 9999)) return null;
  const out: string[] = [];
  if (run[0]!.product) out.push(run[0]!.product);
  for (let j = 1; j < run.length; j++) {
    const u = run[j]!;
    if (u.product) out.push(u.product);
    // Magnitudes: an amount of the sum's own sign adds to it, the other kind takes from it.
    const prev = Math.abs(sums[j - 1]!);
    out.push(`${prev}${u.sign === sign ? '+' : '-'}${u.part}=${Math.abs(sums[j]!)}.`);
  }
  const from = run[0]!.from;
  const to = run[run.length - 1]!.to;
  out.push(`${from}${sign > 0 ? '+' : '-'}${Math.abs(sums[sums.length - 1]!)}=${to}.`);
  return out;
}

/** A run cut, from its start, into the longest pieces whose partial sums keep one sign within 1..9999 (single steps where none can). */
function segments(run: Extract<Unit, { move: true }>[]): Extract<Unit, { move: true }>[][] {
  const out: Extract<Unit, { move: true }>[][] = [];
  for (let i = 0; i < run.length; ) {
    let j = i + 1;
    while (j < run.length && netChange(run.slice(i, j + 1)) !== null) j++;
    out.push(run.slice(i, j));
    i = j;
  }
  return out;
}

/** `problem`'s solution with each piece of two or more amount steps worked through its net change with probability `p`. */
export function deltaWork(problem: Pick<Problem, 'id' | 'question' | 'solution' | 'kind'>, p: number): string {
  if (p <= 0) return problem.solution;
  const at = problem.solution.indexOf(' The answer is ');
  const start = /^\D*?(\d+)/.exec(problem.question);
  if (at < 0 || !start) return problem.solution;
  const eqs = problem.solution.slice(0, at).split(' ').map(parse);
  if (eqs.some((e) => e === null)) return problem.solution;
  const us = units(eqs as Equation[], Number(start[1]), problem.kind === 'compare');
  if (!us) return problem.solution;
  const rng = new Rng(fnv1a(`delta:${problem.id}`));
  const pieces: string[] = [];
  for (let i = 0; i < us.length; ) {
    let j = i;
    while (j < us.length && us[j]!.move) j++;
    if (j - i >= 2) {
      for (const part of segments(us.slice(i, j) as Extract<Unit, { move: true }>[])) {
        const alt = part.length >= 2 && rng.next() < p ? netChange(part) : null;
        pieces.push(...(alt ?? part.flatMap((u) => u.text)));
      }
      i = j;
    } else {
      pieces.push(...us[i]!.text);
      i += 1;
    }
  }
  return `${pieces.join(' ')}${problem.solution.slice(at)}`;
}
