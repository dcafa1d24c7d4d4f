/**
 * Best-of-N at several N from one request. For a policy whose candidate i does not depend on n
 * (vanilla sampling: seed + i; random heads: plan drawn from seed + i; learned: the selector's
 * ranking, best first), the first n candidates of an N-candidate request are the candidates an
 * n-candidate request gets. The evaluation then runs the largest N once and scores the smaller
 * ones on its prefixes, with the server's own vote and diversity functions.
 */
import { diversity } from '../src/engine/diversity.ts';
import type { GenerationResult } from '../src/engine/types.ts';
import { scoredCandidate, selectCandidate } from '../src/engine/vote.ts';

/** The result an n-candidate request would have returned: the first n candidates, voted and measured again. */
export function prefixResult(r: GenerationResult, n: number, shape: { numLayers: number; numHeads: number }): GenerationResult {
  if (n > r.candidates.length) throw new Error(`prefix of ${n} candidates asked of a request with ${r.candidates.length}`);
  if (n === r.candidates.length) return r;
  const candidates = r.candidates.slice(0, n);
  const answers = candidates.map((c) => c.answer);
  return {
    ...r,
    candidates,
    selectedIndex: selectCandidate(candidates.map(scoredCandidate), 'vote'),
    diversity: diversity(answers, candidates.map((c) => c.tokenIds), candidates.map((c) => c.plan), shape),
    completionTokens: candidates.reduce((s, c) => s + c.tokenIds.length, 0),
  };
}
