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
  const byLogprob = (idx: number[]) => idx.reduce((best, i) => (cands[i]!.meanLogprob > cands[best]!.meanLogprob ? i : best), idx[0]!);
  const all = cands.map((_, i) => i);
  if (mode === 'logprob') return byLogprob(all);
  const groups = new Map<string, number[]>();
  cands.forEach((c, i) => {
    if (c.answer !== null) groups.set(c.answer, [...(groups.get(c.answer) ?? []), i]);
  });
  if (groups.size === 0) return byLogprob(all);
  if (mode === 'weighted') return byLogprob(heaviest(cands, groups));
  const mean = (idx: number[]) => idx.reduce((s, i) => s + finite(cands[i]!.meanLogprob), 0) / idx.length;
  let winner: number[] | null = null;
  for (const idx of groups.values()) {
    if (!winner || idx.length > winner.length || (idx.length === winner.length && mean(idx) > mean(winner))) winner = idx;
  }
  return byLogprob(winner!);
}

/** The answer group with the largest summed sequence probability (log-sum-exp, so long answers do not underflow). */
function heaviest(cands: readonly Scored[], groups: Map<string, number[]>): number[] {
  const seqLogprob = (i: number): number => finite(cands[i]!.meanLogprob) * Math.max(1, cands[i]!.tokens);
  let best: number[] | null = null;
  let bestWeight = -Infinity;
  for (const idx of groups.values()) {
    const lps = idx.map(seqLogprob);
    const top = Math.max(...lps);
    const weight = top + Math.log(lps.reduce((s, x) => s + Math.exp(x - top), 0));
    if (weight > bestWeight) {
      best = idx;
      bestWeight = weight;
    }
  }
  return best!;
}

function finite(x: number): number {
  return Number.isFinite(x) ? x : -1e9;
}
