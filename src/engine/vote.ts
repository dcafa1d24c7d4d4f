/**
 * The best-of-N vote: which candidate a request returns as selected. The server, `eval` and the
 * router tools all call this one function, so their figures are the server's.
 */

/**
 * How a request picks its answer: majority vote, a vote weighted by each candidate's sequence
 * probability, the highest mean log-probability, or no selection.
 */
export const SELECT_MODES = ['vote', 'weighted', 'logprob', 'none'] as const;
export type SelectMode = (typeof SELECT_MODES)[number];

/** What the vote reads of a candidate: its extracted answer, its mean token log-probability and its token count. */
export interface Scored {
  answer: string | null;
  meanLogprob: number;
  /** Generated tokens the mean is over (end of sequence excluded); mean x tokens = the sequence's log-probability. */
  tokens: number;
}

/** What the rules read of a generated candidate (its token ids exclude the end of sequence, as its mean does). */
export const scoredCandidate = (c: { answer: string | null; meanLogprob: number; tokenIds: readonly number[] }): Scored => ({ answer: c.answer, meanLogprob: c.meanLogprob, tokens: c.tokenIds.length });

/**
 * Picks the winning candidate. vote: the most common answer wins, ties between answers broken by
 * the answers' mean log-probability, and within the winning answer the most likely candidate.
 * weighted: each candidate counts with its sequence probability (exp of its summed token
 * log-probabilities), so an answer reached by likelier completions outweighs one reached by more
 * but unlikelier ones; within the winning answer the most likely candidate. Both fall back to
 * logprob when no candidate has an answer. logprob: highest mean log-probability. none: null.
 */
export function selectCandidate(cands: readonly Scored[], mode: SelectMode): number | null {
  if (mode === 'none' || cands.length === 0) return null;
  return rankCandidates(cands, mode)[0]!;
}

/**
 * Every candidate, best first, under the rule `mode` (OpenAI's `best_of` returns the first n):
 * rank 0 is the pick of `selectCandidate`, which takes it from here. vote: answer groups by size, ties by the answers' mean
 * log-probability; weighted: by summed sequence probability; within a group, and among candidates
 * without an answer (last), by mean log-probability. logprob and none: by mean log-probability.
 * Ties keep candidate order.
 */
export function rankCandidates(cands: readonly Scored[], mode: SelectMode): number[] {
  const lp = (i: number) => cands[i]!.meanLogprob;
  const byLogprob = (idx: number[]) => [...idx].sort((a, b) => (lp(a) > lp(b) ? -1 : lp(a) < lp(b) ? 1 : a - b));
  const all = cands.map((_, i) => i);
  if (mode === 'logprob' || mode === 'none') return byLogprob(all);
  const groups = new Map<string, number[]>();
  const unanswered: number[] = [];
  cands.forEach((c, i) => {
    if (c.answer === null) unanswered.push(i);
    else groups.set(c.answer, [...(groups.get(c.answer) ?? []), i]);
  });
  const list = [...groups.values()];
  const mean = (idx: number[]) => idx.reduce((s, i) => s + finite(cands[i]!.meanLogprob), 0) / idx.length;
  const key = mode === 'weighted' ? (idx: number[]) => [groupWeight(cands, idx)] : (idx: number[]) => [idx.length, mean(idx)];
  const keyed = list.map((idx, order) => ({ idx, order, k: key(idx) }));
  keyed.sort((a, b) => {
    for (let j = 0; j < a.k.length; j++) if (a.k[j] !== b.k[j]) return b.k[j]! - a.k[j]!;
    return a.order - b.order;
  });
  return [...keyed.flatMap((g) => byLogprob(g.idx)), ...byLogprob(unanswered)];
}

/** log of the summed sequence probabilities of a group's candidates (log-sum-exp). */
function groupWeight(cands: readonly Scored[], idx: number[]): number {
  const lps = idx.map((i) => finite(cands[i]!.meanLogprob) * Math.max(1, cands[i]!.tokens));
  const top = Math.max(...lps);
  return top + Math.log(lps.reduce((s, x) => s + Math.exp(x - top), 0));
}

function finite(x: number): number {
  return Number.isFinite(x) ? x : -1e9;
}
