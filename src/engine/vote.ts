/**
 * The best-of-N vote: which candidate a request returns as selected. The server, `eval` and the
 * router tools all call this one function, so their figures are the server's.
 */

/** How a request picks its answer: majority vote, highest mean log-probability, or no selection. */
export type SelectMode = 'vote' | 'logprob' | 'none';

/** What the vote reads of a candidate: its extracted answer and its mean token log-probability. */
export interface Scored {
  answer: string | null;
  meanLogprob: number;
}

/**
 * Picks the winning candidate. vote: the most common answer wins, ties between answers broken by
 * the answers' mean log-probability, and within the winning answer the most likely candidate; when
 * no candidate has an answer it falls back to logprob. logprob: highest mean log-probability.
 * none: no selection (null).
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
  const mean = (idx: number[]) => idx.reduce((s, i) => s + finite(cands[i]!.meanLogprob), 0) / idx.length;
  let winner: number[] | null = null;
  for (const idx of groups.values()) {
    if (!winner || idx.length > winner.length || (idx.length === winner.length && mean(idx) > mean(winner))) winner = idx;
  }
  return byLogprob(winner!);
}

function finite(x: number): number {
  return Number.isFinite(x) ? x : -1e9;
}
