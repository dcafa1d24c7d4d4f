/**
 * Preference pairs for the model's DPO round (APT, step 2): each acquired training case is asked
 * the way the server answers it (best-of-N sampling through the engine); every candidate that
 * finished with a wrong answer becomes a pair: the generator's worked solution > the model's own
 * wrong solution, whole (`solution` level) or, by default, cut at the first step where they part
 * (`step` level, as Step-DPO does): the same prefix, then the right step > the wrong step. Whole
 * solutions also penalise every step after the mistake, most of them correct arithmetic on the
 * wrong numbers; a round at solution level took the hard tier's greedy accuracy from 48.9% to 27.0%.
 */
import type { LocalEngine } from '../src/engine/local-engine.ts';
import { runProblems } from '../models/train/eval/run-requests.ts';
import { scoreResult } from '../models/train/eval/scoring.ts';
import type { Problem } from '../models/train/generator/problems.ts';

/** One DPO pair, in the trainer's JSONL form. */
export interface PreferencePair {
  question: string;
  chosen: string;
  rejected: string;
  /** True when both stop before the end of a solution (the trainer then adds no end of sequence). */
  partial?: boolean;
}

/** Which part of a wrong solution a pair holds. */
export type PairLevel = 'step' | 'solution';

const steps = (text: string): string[] => text.trim().split(/(?<=\.)\s+/).filter((x) => x);

/** The number a step computes ("4904-1226=3678." -> "3678"), or null. */
const stepValue = (step: string): string | null => /=\s*(-?[\d.,]+?)\.?$/.exec(step)?.[1] ?? null;

/**
 * The step-level pair of a right and a wrong solution: the wrong solution's own steps up to its
 * first mistake, then the right step > the wrong step. A step that computes the same number by
 * another route ("1226*3=3678." for "4904-1226=3678.") is not a mistake. Null when no step differs;
 * partial unless that step ends both solutions.
 */
export function stepPair(question: string, right: string, wrong: string): PreferencePair | null {
  const a = steps(right);
  const b = steps(wrong);
  let k = 0;
  const sameNumber = (x: string, y: string): boolean => {
    const v = stepValue(x);
    return v !== null && v === stepValue(y);
  };
  while (k < a.length && k < b.length && (a[k] === b[k] || sameNumber(a[k]!, b[k]!))) k++;
  if (k >= a.length || k >= b.length) return null;
  const partial = !(k === a.length - 1 && k === b.length - 1);
  return { question, chosen: [...b.slice(0, k), a[k]!].join(' '), rejected: b.slice(0, k + 1).join(' '), ...(partial ? { partial } : {}) };
}

export interface PairOptions {
  n: number;
  temperature: number;
  maxTokens: number;
  seed: number;
  /** At most this many pairs per case (distinct wrong texts, first ones first). */
  maxPerCase: number;
  /** Whole solutions or the first differing step (default step). */
  level?: PairLevel;
}

/** Samples the model on every case and returns the pairs and how often it was wrong. */
export async function preferencePairs(local: LocalEngine, cases: readonly Problem[], o: PairOptions): Promise<{ pairs: PreferencePair[]; candidates: number; wrong: number }> {
  const results = await runProblems(local, cases, o.seed, { n: o.n, temperature: o.temperature, maxTokens: o.maxTokens, skip: { policy: 'none' } });
  const pairs: PreferencePair[] = [];
  let wrong = 0;
  results.forEach((r, i) => {
    const p = cases[i]!;
    const scored = scoreResult(p, r);
    const texts = new Set<string>();
    r.candidates.forEach((c, j) => {
      if (scored.correct[j]) return;
      wrong++;
      const text = c.text.trim();
      if (c.finishReason === 'stop' && text && !texts.has(text) && texts.size < o.maxPerCase) texts.add(text);
    });
    const seen = new Set<string>();
    for (const rejected of texts) {
      const pair = (o.level ?? 'step') === 'step' ? stepPair(p.question, p.solution, rejected) : { question: p.question, chosen: p.solution, rejected };
      if (!pair) continue;
      // Two wrong solutions can share their first mistake: one step-level pair for both.
      const key = `${pair.chosen}\u0000${pair.rejected}`;
      if (seen.has(key)) continue;
      seen.add(key);
      pairs.push(pair);
    }
  });
  return { pairs, candidates: cases.length * o.n, wrong };
}
