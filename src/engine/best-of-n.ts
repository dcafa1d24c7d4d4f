/**
 * Best-of-N above the scheduler: a request with n candidates is a parent whose prompt is prefilled
 * once, under the skip core (what every candidate skips), and then forked into n child rows, each
 * with seed + i and its own plan. Because the prefill runs under the core, a candidate's own extra
 * skips and head masks apply from its first decode step on: the prompt's KV cache is shared and
 * computed once. When the candidates are done, answers are extracted, the winner selected and the
 * diversity figures computed.
 */
import type { SkipPlan } from '../plans/plan.ts';
import { extractAnswer, selectCandidate, type SelectMode } from './answers.ts';
import { diversity, type DiversityFigures } from './diversity.ts';

const intersect = (lists: readonly (readonly number[])[]): number[] =>
  lists.length === 0 ? [] : [...lists[0]!].filter((x) => lists.every((l) => l.includes(x))).sort((a, b) => a - b);

/** The skip core of a set of plans: the sublayers and head masks all of them share. */
export function skipCore(plans: readonly SkipPlan[]): SkipPlan {
  const maskHeads: Record<number, number[]> = {};
  if (plans.length) {
    for (const layer of Object.keys(plans[0]!.maskHeads).map(Number)) {
      const heads = intersect(plans.map((p) => p.maskHeads[layer] ?? []));
      if (heads.length) maskHeads[layer] = heads;
    }
  }
  return {
    skipAttention: intersect(plans.map((p) => p.skipAttention)),
    skipMlp: intersect(plans.map((p) => p.skipMlp)),
    maskHeads,
  };
}

/** A canonical string for a plan (equal plans, equal keys). */
export function planKey(plan: SkipPlan): string {
  const heads = Object.keys(plan.maskHeads)
    .map(Number)
    .filter((l) => (plan.maskHeads[l] ?? []).length > 0)
    .sort((a, b) => a - b)
    .map((l) => `${l}:${[...plan.maskHeads[l]!].sort((a, b) => a - b).join('.')}`);
  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b).join('.');
  return `a${sorted(plan.skipAttention)}|m${sorted(plan.skipMlp)}|h${heads.join(',')}`;
}

/** Key of the sublayers a plan skips (head masks excluded): rows with equal keys batch together. */
export function coreKey(core: SkipPlan): string {
  return planKey({ skipAttention: core.skipAttention, skipMlp: core.skipMlp, maskHeads: {} });
}

export interface FinishedCandidate {
  text: string;
  tokenIds: number[];
  meanLogprob: number;
  plan: SkipPlan;
}

export interface BestOfNSummary {
  answers: (string | null)[];
  selectedIndex: number | null;
  diversity: DiversityFigures;
}

/** Extracts answers, selects the winner and measures diversity for one parent's candidates. */
export function summarize(
  cands: readonly FinishedCandidate[],
  select: SelectMode,
  shape: { numLayers: number; numHeads: number },
  pattern?: RegExp,
): BestOfNSummary {
  const answers = cands.map((c) => extractAnswer(c.text, pattern));
  const selectedIndex = selectCandidate(
    cands.map((c, i) => ({ answer: answers[i]!, meanLogprob: c.meanLogprob })),
    select,
  );
  const div = diversity(
    answers,
    cands.map((c) => c.tokenIds),
    cands.map((c) => c.plan),
    shape,
  );
  return { answers, selectedIndex, diversity: div };
}
