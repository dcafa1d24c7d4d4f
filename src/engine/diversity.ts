/**
 * Diversity of a best-of-N result: how many distinct answers, how spread they are, how different
 * the candidates' token streams are, and how different their skip plans are.
 */
import type { SkipPlan } from '../plans/plan.ts';

export interface DiversityFigures {
  /** Distinct extracted answers / n (candidates without an answer add nothing). */
  uniqueAnswers: number;
  /** Shannon entropy (bits) of the distribution of extracted answers (candidates without one excluded). */
  answerEntropy: number;
  /** Distinct token bigrams / all token bigrams over all candidates (0 when there are none). */
  distinct2: number;
  /** Mean Jaccard distance between the candidates' token sets (0 for n < 2). */
  meanPairwiseDistance: number;
  /** Candidates sharing the most common answer / n. */
  majorityShare: number;
  /** Mean normalised Hamming distance between the candidates' plans (skips and head masks). */
  planDistance: number;
}

/** Computes every diversity figure for one request's candidates. */
export function diversity(
  answers: readonly (string | null)[],
  tokens: readonly (readonly number[])[],
  plans: readonly SkipPlan[],
  shape: { numLayers: number; numHeads: number },
): DiversityFigures {
  const n = answers.length;
  const counts = new Map<string, number>();
  for (const a of answers) if (a !== null) counts.set(a, (counts.get(a) ?? 0) + 1);
  const answered = [...counts.values()].reduce((s, c) => s + c, 0);
  let entropy = 0;
  for (const c of counts.values()) {
    const p = c / answered;
    entropy -= p * Math.log2(p);
  }
  return {
    uniqueAnswers: n ? counts.size / n : 0,
    answerEntropy: entropy === 0 ? 0 : entropy,
    distinct2: distinctN(tokens, 2),
    meanPairwiseDistance: meanPairwise(tokens.map((t) => new Set(t)), jaccardDistance),
    majorityShare: n ? Math.max(0, ...counts.values()) / n : 0,
    planDistance: meanPairwise(plans.map((p) => planBits(p, shape)), hamming),
  };
}

/** Distinct n-grams / all n-grams over several token sequences. */
export function distinctN(seqs: readonly (readonly number[])[], n: number): number {
  const seen = new Set<string>();
  let total = 0;
  for (const s of seqs) {
    for (let i = 0; i + n <= s.length; i++) {
      seen.add(s.slice(i, i + n).join(','));
      total++;
    }
  }
  return total ? seen.size / total : 0;
}

/** 1 - |A∩B| / |A∪B|; 0 for two empty sets. */
export function jaccardDistance(a: Set<number>, b: Set<number>): number {
  let inter = 0;
  for (const x of a) if (b.has(x)) inter++;
  const union = a.size + b.size - inter;
  return union ? 1 - inter / union : 0;
}

function meanPairwise<T>(items: readonly T[], dist: (a: T, b: T) => number): number {
  let sum = 0;
  let pairs = 0;
  for (let i = 0; i < items.length; i++) {
    for (let j = i + 1; j < items.length; j++) {
      sum += dist(items[i]!, items[j]!);
      pairs++;
    }
  }
  return pairs ? sum / pairs : 0;
}

/** A plan as a bit vector: attention skips, MLP skips, then every (layer, head) mask. */
function planBits(plan: SkipPlan, { numLayers, numHeads }: { numLayers: number; numHeads: number }): Uint8Array {
  const bits = new Uint8Array(numLayers * (2 + numHeads));
  for (const l of plan.skipAttention) bits[l] = 1;
  for (const l of plan.skipMlp) bits[numLayers + l] = 1;
  for (const [l, heads] of Object.entries(plan.maskHeads)) for (const h of heads) bits[2 * numLayers + Number(l) * numHeads + h] = 1;
  return bits;
}

function hamming(a: Uint8Array, b: Uint8Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) d++;
  return a.length ? d / a.length : 0;
}
