/**
 * The engine's side of speculative decoding (self-speculative: a skip plan drafts, the request's
 * own plans verify; the cycle itself is model/speculative-cycle.ts): which requests decode
 * speculatively, their group and their draft. (The engine counts a cycle's speedup against the
 * same cycle on the full model: engine.ts, `speculate`.) Requests qualify whose tokens a draft can
 * change in nothing but speed: greedy (the verification's choice is exactly the token a plain step
 * draws) or sampled (temperature, top-k, top-p; speculative sampling: the tokens are distributed
 * exactly as plain draws), with no logit processor, guide, min_tokens or beam search, and
 * candidates that share one skip core (the full model or a latency-budget core; head masks may
 * differ per candidate): the verification is then one run of the core's graph, and the draft
 * skips the draft's layers on top of the core.
 */
import { planCost } from '../plans/cost.ts';
import { coreKey, FULL_PLAN, planKey, type PlanShape, type SkipPlan } from '../plans/plan.ts';
import { processesLogits } from '../sampling/logit-processors.ts';
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

/**
 * What the full model's draft costs against a core's draft (`draftOnCore(draft, core)`), from their
 * FLOPs, realised as far as the core's measured saving on the verification (`verifyRatio`, dense /
 * core) realises its FLOPs: 1 where the core's sublayers lie inside the draft's (the same draft).
 */
export function draftRatio(draft: SkipPlan, core: SkipPlan, shape: PlanShape, verifyRatio: number): number {
  const kept = (p: SkipPlan) => 1 - planCost(p, shape).removedFraction;
  const ideal = kept(draft) / kept(draftOnCore(draft, core));
  if (ideal <= 1) return 1;
  const coreIdeal = 1 / kept(core);
  const realised = coreIdeal > 1 ? Math.min(1, Math.max(0, (verifyRatio - 1) / (coreIdeal - 1))) : 1;
  return 1 + realised * (ideal - 1);
}

/** Cycles per token kept per kind of request. */
const CYCLES_WINDOW = 16;

/**
 * How many speculative cycles the full model's own requests (every candidate the full plan) take per
 * token of their longest candidate, per kind of request (cycleKind). A request of other plans counts
 * its cycles against as many as the full model would take for its tokens: candidates under head
 * masks or skip cores accept fewer drafts, and differing candidates make a request wait for its
 * slowest (eight greedy candidates of the full model are one path; eight differently masked ones
 * are eight, and the request takes as many cycles as the slowest needs).
 */
export class FullModelCycles {
  private readonly windows = new Map<string, number[]>();
  /** The full model's cycle wall times (ms) per row count. */
  private readonly cycles = new Map<number, number[]>();

  /** A full-model request's cycles and its longest candidate's tokens. */
  record(kind: string, cycles: number, tokens: number): void {
    if (cycles <= 0 || tokens <= 0) return;
    const w = this.windows.get(kind) ?? [];
    w.push(cycles / tokens);
    if (w.length > CYCLES_WINDOW) w.shift();
    this.windows.set(kind, w);
  }

  /** The median cycles per token of the full model's requests of this kind, or null before any. */
  perToken(kind: string): number | null {
    const w = this.windows.get(kind);
    return w?.length ? median(w) : null;
  }

  /** A cycle of the full model's group: its wall time at its row count. */
  cycle(rows: number, ms: number): void {
    const w = this.cycles.get(rows) ?? [];
    w.push(ms);
    if (w.length > CYCLES_WINDOW) w.shift();
    this.cycles.set(rows, w);
  }

  /** The median wall time of the full model's cycles at the nearest row count measured, or null before any. */
  cycleMs(rows: number): number | null {
    let best: number[] | null = null;
    let gap = Infinity;
    for (const [r, w] of this.cycles) if (Math.abs(r - rows) < gap) [best, gap] = [w, Math.abs(r - rows)];
    return best ? median(best) : null;
  }

  /**
   * What the full model's speculative cycles would take (ms) for `tokens` tokens of a request of
   * this kind at `rows` rows: its cycles per token times its cycle time; null before either is measured.
   */
  decodeMs(kind: string, tokens: number, rows: number): number | null {
    const per = this.perToken(kind);
    const ms = this.cycleMs(rows);
    return per === null || ms === null ? null : per * tokens * ms;
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const k = s.length >> 1;
  return s.length % 2 ? s[k]! : (s[k - 1]! + s[k]!) / 2;
}

/**
 * The kind of a request for FullModelCycles: greedy requests are one kind (the full model's
 * candidates are one path whatever n); sampled ones by n and temperature (to a tenth), which set
 * how far the slowest of n samples lags and how often drafts are kept.
 */
export function cycleKind(req: Pick<GenerationRequest, 'n' | 'sampling'>): string {
  return req.sampling.temperature === 0 ? 'greedy' : `n${req.n}@${req.sampling.temperature.toFixed(1)}`;
}

/** True when every candidate runs the full model unmasked (a request whose cycles are the full model's own). */
export function allFullPlans(plans: readonly SkipPlan[]): boolean {
  const full = planKey(FULL_PLAN);
  return plans.every((p) => planKey(p) === full);
}
