/**
 * K-fold cross-validation of plan *sets* on calibration records with every plan's recorded answer:
 * each question is held out once, and the N plans chosen for it (by the selector trained on the other
 * folds, or by a static rule fitted on them) are scored by the offline majority vote. Compares the
 * per-prompt choice (the selector's top N, and its top N re-ranked for diversity) with static
 * choices (the N plans best on average; the N whose vote was right most often, by forward selection)
 * and a random N, all paired on the same questions. Uses every question for evaluation, where a
 * single validation split leaves about a hundred.
 */
import type { PromptRecord } from '../calibrate.ts';
import { topN } from '../../src/router/selector-session.ts';
import { pairedDiff, type PairedDiff } from '../../src/util/intervals.ts';
import { fnv1a, Rng } from '../../src/util/rng.ts';
import { ensembleScores } from './model.ts';
import { majority, randomPlans } from './offline-vote.ts';
import { planShares, recordInput, trainMembers, type FitOptions } from './fit.ts';

export interface SetChoiceFigure {
  choice: string;
  /** Mean majority-vote accuracy over the held-out questions. */
  maj: number;
  /** Paired against the random N (the mean of `randomDraws` draws per question). */
  minusRandom: PairedDiff;
  /** Paired against the selector's top N. */
  minusSelector: PairedDiff;
}

export interface CrossValidation {
  folds: number;
  n: number;
  questions: number;
  figures: SetChoiceFigure[];
}

type Rec = PromptRecord & { answers: (string | null)[]; correct: number[] };

/** How often each pair of plans gave the same answer over `rs` (the diversity re-ranking's redundancy). */
export function answerAgreement(rs: readonly Rec[], m: number): Float64Array[] {
  const a = Array.from({ length: m }, () => new Float64Array(m));
  for (const r of rs) for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) if (r.answers[i] === r.answers[j]) a[i]![j]!++;
  for (const row of a) for (let j = 0; j < m; j++) row[j]! /= Math.max(1, rs.length);
  return a;
}

/** Maximal marginal relevance: the standardised score minus `lambda` times the largest agreement with a plan already chosen. */
export function diverseTopN(scores: ArrayLike<number>, agreement: readonly Float64Array[], n: number, lambda: number): number[] {
  const m = scores.length;
  const z = Array.from(scores);
  const mean = z.reduce((s, x) => s + x, 0) / m;
  const sd = Math.sqrt(z.reduce((s, x) => s + (x - mean) ** 2, 0) / m) || 1;
  const chosen: number[] = [];
  while (chosen.length < Math.min(n, m)) {
    let best = -1;
    let bestValue = -Infinity;
    for (let j = 0; j < m; j++) {
      if (chosen.includes(j)) continue;
      const redundancy = chosen.reduce((mx, c) => Math.max(mx, agreement[c]![j]!), 0);
      const v = (z[j]! - mean) / sd - lambda * redundancy;
      if (v > bestValue) [best, bestValue] = [j, v];
    }
    chosen.push(best);
  }
  return chosen;
}

/**
 * The N plans whose majority vote was right most often on `rs`, added one at a time (forward
 * selection); among plans that leave the vote's hits equal, the one right most often on its own.
 */
export function voteSet(rs: readonly Rec[], m: number, n: number): number[] {
  const own = Array.from({ length: m }, (_, j) => rs.reduce((s, r) => s + (r.answers[j] === r.answer ? 1 : 0), 0));
  const chosen: number[] = [];
  while (chosen.length < Math.min(n, m)) {
    let best = -1;
    let bestHits = -1;
    for (let j = 0; j < m; j++) {
      if (chosen.includes(j)) continue;
      const c = [...chosen, j];
      const hits = rs.reduce((s, r) => s + (majority(r.answers, c) === r.answer ? 1 : 0), 0);
      if (hits > bestHits || (hits === bestHits && own[j]! > own[best]!)) [best, bestHits] = [j, hits];
    }
    chosen.push(best);
  }
  return chosen;
}

/** Runs the K folds (questions assigned by a seeded hash of their id). */
export function crossValidate(records: readonly PromptRecord[], m: number, samplesPerPlan: number, opts: FitOptions, folds: number, onFold?: (f: number) => void): CrossValidation {
  const n = Math.min(opts.n ?? 8, m);
  const usable = records.filter((r): r is Rec => r.correct !== null && !!r.answers?.length && r.answer !== null && r.answer !== undefined);
  if (usable.length < folds) throw new Error(`cross-validation needs at least ${folds} questions with answers, got ${usable.length}`);
  const fold = (r: Rec): number => fnv1a(`${opts.seed}:fold:${r.id}`) % folds;
  const hits = new Map<string, number[]>();
  const put = (k: string, v: number): void => void (hits.get(k) ?? hits.set(k, []).get(k)!).push(v);
  const randomDraws = 20;
  const SELECTOR = `selector top ${n}`;
  const RANDOM = `random ${n} (mean of ${randomDraws} draws)`;
  for (let f = 0; f < folds; f++) {
    const train = usable.filter((r) => fold(r) !== f);
    const held = usable.filter((r) => fold(r) === f);
    const { members, features } = trainMembers(train, m, samplesPerPlan, { ...opts, onEpoch: undefined });
    const shares = planShares(train, m, samplesPerPlan);
    const byAccuracy = topN(shares, n);
    const byVote = voteSet(train, m, n);
    const agreement = answerAgreement(train, m);
    const rng = new Rng(opts.seed + 1000 + f);
    for (const r of held) {
      const right = (chosen: readonly number[]): number => (majority(r.answers, chosen) === r.answer ? 1 : 0);
      const scores = ensembleScores(members, recordInput(r, features));
      put(SELECTOR, right(topN(scores, n)));
      put(`selector top ${n}, diversity re-ranked (lambda 1)`, right(diverseTopN(scores, agreement, n, 1)));
      put(`static: the ${n} plans best on average`, right(byAccuracy));
      put(`static: the ${n} plans whose vote was right most often`, right(byVote));
      let random = 0;
      for (let d = 0; d < randomDraws; d++) random += right(randomPlans(rng, m, n)) / randomDraws;
      put(RANDOM, random);
    }
    onFold?.(f);
  }
  const random = hits.get(RANDOM)!;
  const selector = hits.get(SELECTOR)!;
  const figures = [...hits.entries()].map(([choice, v]) => ({
    choice,
    maj: v.reduce((s, x) => s + x, 0) / v.length,
    minusRandom: pairedDiff(random, v),
    minusSelector: pairedDiff(selector, v),
  }));
  return { folds, n, questions: usable.length, figures };
}
