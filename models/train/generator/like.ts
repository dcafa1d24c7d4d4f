/**
 * Weakness-case acquisition for the default model's domain (APT): fresh problems like a given one,
 * the same tier, kind and number of steps and numbers of the same size, drawn from the generator's
 * train split (so no acquired case is a test question).
 */
import { Rng } from '../../../src/util/rng.ts';
import { describeProblem, type ProblemDescription } from './describe.ts';
import { generateHardProblem } from './hard.ts';
import { generateProblem, type Problem } from './problems.ts';
import { splitOf } from './split.ts';

/** True when a problem matches a description (digits within one of the target). */
export function matches(p: Problem, d: ProblemDescription): boolean {
  const e = describeProblem(p);
  return e.tier === d.tier && e.kind === d.kind && e.steps === d.steps && Math.abs(e.digits - d.digits) <= 1;
}

/**
 * `count` distinct train-split problems matching `d`, deterministic in `seed`; fewer when the
 * generator rarely makes such problems (it gives up after `count * 5000` draws).
 */
export function generateLike(d: ProblemDescription, count: number, seed: number, idPrefix = 'like'): Problem[] {
  const rng = new Rng((seed * 7919 + 17) >>> 0);
  const out: Problem[] = [];
  const seen = new Set<string>();
  for (let tries = 0; out.length < count && tries < count * 5000; tries++) {
    const id = `${idPrefix}-${seed}-${out.length}`;
    const p = d.tier === 'hard' ? generateHardProblem(rng, id) : generateProblem(rng, id);
    if (splitOf(p.question) !== 'train' || seen.has(p.question) || !matches(p, d)) continue;
    seen.add(p.question);
    out.push(p);
  }
  return out;
}
