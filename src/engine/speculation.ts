/**
 * The engine's side of speculative decoding (self-speculative: a skip plan drafts, the full model
 * verifies; the cycle itself is model/speculative-cycle.ts): which requests decode speculatively,
 * and how their speedup is counted (PlainStepClock, usableTokens). Requests qualify whose tokens a
 * draft can change in nothing but speed: on the full model's plan, greedy (the verification's
 * choice is exactly the token a plain step draws) or sampled at a plain temperature (speculative
 * sampling: the tokens are distributed exactly as plain draws), with no logit processor, guide,
 * min_tokens or beam search.
 */
import { FULL_PLAN, planKey, type SkipPlan } from '../plans/plan.ts';
import { processesLogits } from '../sampling/logit-processors.ts';
import type { SampledToken } from '../model/runner-types.ts';
import type { CandidateRow } from './candidate-row.ts';
import type { GenerationRequest } from './types.ts';

export function eligibleForSpeculation(req: GenerationRequest, plans: readonly SkipPlan[]): boolean {
  const s = req.sampling;
  // Sampling speculates at a plain temperature (speculative sampling); top-p and top-k would need
  // the sampler's exact truncation on both distributions.
  const plain = s.temperature === 0 || (s.topP >= 1 && !s.topK);
  return plain && !processesLogits(s) && !s.guide && !req.minTokens && !req.beam && plans.every((p) => planKey(p) === planKey(FULL_PLAN));
}

/** Plain steps kept per batch size, and how often a speculative group takes one. */
const WINDOW = 8;
const EVERY = 16;

/**
 * What a plain decode step of the speculative rows costs end to end (the engine's whole step: the
 * run, the round trip, sampling, streaming), measured on the rows themselves: the group's greedy
 * rows take a plain step now and then (its first turn at each batch size, then one turn in EVERY),
 * so a request's speedup compares its cycles with steps of the same requests, from the first
 * request. Sampled rows never step plainly (their tokens would then depend on where the plain steps
 * fell); the full model's own group's steps are recorded too.
 */
export class PlainStepClock {
  private readonly walls = new Map<number, number[]>();
  private turns = 0;

  /** True when this turn of a group of `rows` should be a plain step. */
  due(rows: number): boolean {
    this.turns++;
    return (this.walls.get(rows)?.length ?? 0) < 2 || this.turns % EVERY === 0;
  }

  record(rows: number, ms: number): void {
    const w = this.walls.get(rows) ?? [];
    w.push(ms);
    if (w.length > WINDOW) w.shift();
    this.walls.set(rows, w);
  }

  /** Median wall of a plain step of `rows` rows (the nearest batch size measured), or null before any. */
  stepMs(rows: number): number | null {
    let best: number[] | null = null;
    let gap = Infinity;
    for (const [b, w] of this.walls) if (Math.abs(b - rows) < gap) [best, gap] = [w, Math.abs(b - rows)];
    if (!best) return null;
    const s = [...best].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)]!;
  }
}

/** Tokens of a cycle a row takes: up to its first end-of-sequence or stop token (a plain step drew that too) and its max_tokens. */
export function usableTokens(tokens: readonly SampledToken[], row: CandidateRow, maxTokens: number): number {
  const end = tokens.findIndex((t) => row.spec.stopTokenIds?.includes(t.token));
  return Math.min(end < 0 ? tokens.length : end + 1, maxTokens - row.tokenIds.length);
}
