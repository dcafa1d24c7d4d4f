/**
 * The engine's side of speculative decoding (self-speculative: a skip plan drafts, the request's
 * own plans verify; the cycle itself is model/speculative-cycle.ts): which requests decode
 * speculatively, their group and draft, and how their speedup is counted (PlainStepClock,
 * usableTokens). Requests qualify whose tokens a draft can change in nothing but speed: greedy (the
 * verification's choice is exactly the token a plain step draws) or sampled (temperature, top-k,
 * top-p; speculative sampling: the tokens are distributed exactly as plain draws), with no logit
 * processor, guide, min_tokens or beam search, and candidates that share one skip core (the full
 * model or a latency-budget core; head masks may differ per candidate): the verification is then
 * one run of the core's graph, and the draft skips the draft's layers on top of the core.
 */
import { coreKey, type SkipPlan } from '../plans/plan.ts';
import { processesLogits } from '../sampling/logit-processors.ts';
import type { SampledToken } from '../model/runner-types.ts';
import type { CandidateRow } from './candidate-row.ts';
import type { GenerationRequest } from './types.ts';

export function eligibleForSpeculation(req: GenerationRequest, plans: readonly SkipPlan[]): boolean {
  const s = req.sampling;
  // Sampling speculates under the distribution plain sampling draws from (temperature, top-k, top-p:
  // samplingDistribution); min-p and penalties are logit processors, which stay plain.
  const core = plans.length ? coreKey(plans[0]!) : '';
  return !processesLogits(s) && !s.guide && !req.minTokens && !req.beam && plans.every((p) => coreKey(p) === core);
}

const SPECULATIVE_SUFFIX = '|speculative';

/** The scheduler group of the speculative rows of a skip core (one per core: a cycle verifies in one core's graph). */
export function speculativeGroupKey(core: string): string {
  return core + SPECULATIVE_SUFFIX;
}

/** The core key of a speculative group's key, or null for any other group. */
export function coreOfSpeculativeGroup(key: string): string | null {
  return key.endsWith(SPECULATIVE_SUFFIX) ? key.slice(0, -SPECULATIVE_SUFFIX.length) : null;
}

/** The draft plan of a core's rows: the draft's sublayers skipped on top of the core's (no head masks: a draft changes only speed). */
export function draftOnCore(draft: SkipPlan, core: SkipPlan): SkipPlan {
  const union = (a: readonly number[], b: readonly number[]) => [...new Set([...a, ...b])].sort((x, y) => x - y);
  return { skipAttention: union(draft.skipAttention, core.skipAttention), skipMlp: union(draft.skipMlp, core.skipMlp), maskHeads: {} };
}

/** Plain steps kept per batch size, and how often a speculative group takes one. */
const WINDOW = 8;
const EVERY = 16;
/** Plain steps measured first at a new batch size (one alone may be slow: the first after a change of shape or graph). */
const FIRST = 3;

/**
 * What a plain decode step of the full model costs end to end (the engine's whole step: the run,
 * the round trip, sampling, streaming), the baseline of a speculating request's speedup, measured
 * on the rows themselves: a speculative group's greedy rows take a plain step now and then (its
 * first FIRST turns at each batch size, then one turn in EVERY), so a request's speedup compares its
 * cycles with steps of the same requests, from the first request. A skip core's plain step runs the
 * core: it is recorded as its wall time with the run's time replaced by the run's dense equivalent
 * (the speedup meter's). Sampled rows never step plainly (their tokens would then depend on where
 * the plain steps fell); the full model's own group's steps are recorded for its clock too. One
 * clock per speculative group.
 */
export class PlainStepClock {
  private readonly walls = new Map<number, number[]>();
  private turns = 0;

  constructor(private readonly around: AroundClock) {}

  /** True when this turn of a group of `rows` should be a plain step. */
  due(rows: number): boolean {
    this.turns++;
    return (this.walls.get(rows)?.length ?? 0) < FIRST || this.turns % EVERY === 0;
  }

  /** A plain step's full-model wall time (ms) at `rows` rows. */
  record(rows: number, ms: number): void {
    keep(this.walls, rows, ms);
  }

  /** True once this group has plain steps of its own to compare with. */
  measured(): boolean {
    return this.walls.size > 0;
  }

  /**
   * Full-model wall of a plain step of `rows` rows: the median of this group's plain steps (the
   * nearest batch size measured); before any (a group of sampled rows), the full model's run at that
   * batch (`denseRunMs`, the speedup meter's, asked only then) and the engine's time around a plain step's run.
   */
  stepMs(rows: number, denseRunMs: () => number): number {
    return nearestMedian(this.walls, rows) ?? denseRunMs() + this.around.ms(rows);
  }
}

/**
 * The engine's time around a plain decode step's run (the round trip, input preparation, sampling
 * in the worker, streaming), per batch size: from every plain decode step of any group, and from
 * the start-up warm-up's sampled steps (their first two left out: first runs of a shape are slow).
 */
export class AroundClock {
  private readonly arounds = new Map<number, number[]>();

  constructor(private readonly fallback: (rows: number) => number) {}

  record(rows: number, ms: number): void {
    keep(this.arounds, rows, ms);
  }

  ms(rows: number): number {
    return nearestMedian(this.arounds, rows) ?? this.fallback(rows);
  }
}

function keep(m: Map<number, number[]>, rows: number, ms: number): void {
  const w = m.get(rows) ?? [];
  w.push(ms);
  if (w.length > WINDOW) w.shift();
  m.set(rows, w);
}

/** Median of the window of the nearest batch size, or null when there is none. */
function nearestMedian(m: Map<number, number[]>, rows: number): number | null {
  let best: number[] | null = null;
  let gap = Infinity;
  for (const [b, w] of m) if (Math.abs(b - rows) < gap) [best, gap] = [w, Math.abs(b - rows)];
  if (!best) return null;
  const s = [...best].sort((a, b) => a - b);
  const k = s.length >> 1;
  return s.length % 2 ? s[k]! : (s[k - 1]! + s[k]!) / 2;
}

/** Tokens of a cycle a row takes: up to its first end-of-sequence or stop token (a plain step drew that too) and its max_tokens. */
export function usableTokens(tokens: readonly SampledToken[], row: CandidateRow, maxTokens: number): number {
  const end = tokens.findIndex((t) => row.spec.stopTokenIds?.includes(t.token));
  return Math.min(end < 0 ? tokens.length : end + 1, maxTokens - row.tokenIds.length);
}
