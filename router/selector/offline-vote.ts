/**
 * Offline best-of-N on calibration records: with every plan's recorded answer (greedy labels, or
 * sample 0 of paired samples), the majority vote and pass@N of any N plans can be computed without
 * running the model. Used to compare the selector's top N with the best static N and a random N on
 * held-out questions, each with its 95% interval, and the paired differences.
 */
import type { PromptRecord } from '../calibrate.ts';
import { topN } from '../../src/router/selector-session.ts';
import { pairedDiff, wilson, type PairedDiff, type Proportion } from '../../src/util/intervals.ts';
import type { Rng } from '../../src/util/rng.ts';

export interface OfflineVote {
  n: number;
  /** Majority vote right, for the selector's top N, the static top N and a random N. */
  selector: Proportion;
  static: Proportion;
  random: Proportion;
  /** Any of the N right. */
  selectorPass: Proportion;
  staticPass: Proportion;
  randomPass: Proportion;
  /** Paired differences of the majority vote: selector - static, selector - random. */
  minusStatic: PairedDiff;
  minusRandom: PairedDiff;
}

/**
 * The majority answer of the plans `chosen` (in rank order; a tie goes to the answer reached
 * first, i.e. the better-ranked plan); null when none of them answered.
 */
export function majority(answers: readonly (string | null)[], chosen: readonly number[]): string | null {
  const counts = new Map<string, number>();
  let best: string | null = null;
  let bestCount = 0;
  for (const j of chosen) {
    const a = answers[j];
    if (a === null || a === undefined) continue;
    const c = (counts.get(a) ?? 0) + 1;
    counts.set(a, c);
    if (c > bestCount) {
      best = a;
      bestCount = c;
    }
  }
  return best;
}

/** `n` distinct indices below `m`, drawn from `rng`. */
export function randomPlans(rng: Rng, m: number, n: number): number[] {
  const idx = Array.from({ length: m }, (_, i) => i);
  rng.shuffle(idx);
  return idx.slice(0, Math.min(n, m));
}

/** The record's answer of every plan (sample 0). */
function planAnswers(r: PromptRecord, m: number): (string | null)[] {
  return r.answers!.slice(0, m);
}

/**
 * Offline maj@N and pass@N on `records` for each N: selector (its `scores` per record), static
 * (`meanShare`, best on average over training), random (seeded).
 */
export function offlineVotes(records: PromptRecord[], scores: ArrayLike<number>[], meanShare: number[], m: number, ns: number[], rng: Rng): OfflineVote[] {
  const truth = records.map((r) => r.answer ?? null);
  return ns
    .filter((n) => n <= m)
    .map((n) => {
      const stat = topN(meanShare, n);
      const rows = records.map((r, i) => {
        const answers = planAnswers(r, m);
        const right = (chosen: number[]): [number, number] => {
          const t = truth[i];
          if (t === null) return [0, 0];
          return [majority(answers, chosen) === t ? 1 : 0, chosen.some((j) => answers[j] === t) ? 1 : 0];
        };
        return { sel: right(topN(scores[i]!, n)), stat: right(stat), rand: right(randomPlans(rng, m, n)) };
      });
      const k = rows.length;
      const col = (f: (x: (typeof rows)[number]) => number): number[] => rows.map(f);
      const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
      const selMaj = col((x) => x.sel[0]);
      const statMaj = col((x) => x.stat[0]);
      const randMaj = col((x) => x.rand[0]);
      return {
        n,
        selector: wilson(sum(selMaj), k),
        static: wilson(sum(statMaj), k),
        random: wilson(sum(randMaj), k),
        selectorPass: wilson(sum(col((x) => x.sel[1])), k),
        staticPass: wilson(sum(col((x) => x.stat[1])), k),
        randomPass: wilson(sum(col((x) => x.rand[1])), k),
        minusStatic: pairedDiff(statMaj, selMaj),
        minusRandom: pairedDiff(randMaj, selMaj),
      };
    });
}
