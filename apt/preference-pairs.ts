/**
 * Preference pairs for the model's DPO round (APT, step 2): each acquired training case is asked
 * the way the server answers it (best-of-N sampling through the engine); every candidate that
 * finished with a wrong answer becomes a pair (the generator's worked solution > the model's own
 * wrong solution).
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
}

export interface PairOptions {
  n: number;
  temperature: number;
  maxTokens: number;
  seed: number;
  /** At most this many pairs per case (distinct wrong texts, first ones first). */
  maxPerCase: number;
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
    for (const rejected of texts) pairs.push({ question: p.question, chosen: p.solution, rejected });
  });
  return { pairs, candidates: cases.length * o.n, wrong };
}
