/**
 * Best-of-N above the scheduler: a request with n candidates is a parent whose prompt is prefilled
 * once, under the skip core (what every candidate skips), and then forked into n child rows, each
 * with seed + i and its own plan. Because the prefill runs under the core, a candidate's own extra
 * skips and head masks apply from its first decode step on: the prompt's KV cache is shared and
 * computed once. When the candidates are done, answers are extracted, the winner selected and the
 * diversity figures computed.
 */
import type { SkipPlan } from '../plans/plan.ts';
import { extractAnswer } from './answers.ts';
import { rankCandidates, scoredCandidate, selectCandidate, type SelectMode } from './vote.ts';
import { diversity, type DiversityFigures } from './diversity.ts';

export interface FinishedCandidate {
  text: string;
  tokenIds: number[];
  meanLogprob: number;
  plan: SkipPlan;
}

export interface BestOfNSummary {
  answers: (string | null)[];
  selectedIndex: number | null;
  /** The first `returnN` candidates by the rule, when that is fewer than all (best_of). */
  returned?: number[];
  diversity: DiversityFigures;
}

/** Extracts answers, selects the winner and measures diversity for one parent's candidates. */
export function summarize(
  cands: readonly FinishedCandidate[],
  select: SelectMode,
  shape: { numLayers: number; numHeads: number },
  pattern?: RegExp,
  returnN = cands.length,
): BestOfNSummary {
  const answers = cands.map((c) => extractAnswer(c.text, pattern));
  const scored = cands.map((c, i) => scoredCandidate({ ...c, answer: answers[i]! }));
  const selectedIndex = selectCandidate(scored, select);
  const returned = returnN < cands.length ? rankCandidates(scored, select).slice(0, returnN) : undefined;
  const div = diversity(
    answers,
    cands.map((c) => c.tokenIds),
    cands.map((c) => c.plan),
    shape,
  );
  return { answers, selectedIndex, ...(returned ? { returned } : {}), diversity: div };
}
