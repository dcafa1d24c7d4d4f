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
import type { SpeculativeConfig } from '../model/runner-types.ts';
import { LruMap } from '../util/lru-map.ts';
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
 * Each skip core's speculative config (the draft on top of the core: draftOnCore), kept as one object
 * per core: the runner names plans by identity, so a new draft object every cycle would be sent to
 * the model worker anew each time. Explicit plans make cores without limit: the most recent `kept`.
 */
export class CoreDrafts {
  private readonly byCore: LruMap<string, SpeculativeConfig>;

  constructor(
    private readonly base: SpeculativeConfig,
    kept = 64,
  ) {
    this.byCore = new LruMap(kept);
  }

  /** The config of the core whose key is `key`. */
  config(key: string, core: SkipPlan): SpeculativeConfig {
    let cfg = this.byCore.get(key);
    if (!cfg) this.byCore.set(key, (cfg = { ...this.base, draft: draftOnCore(this.base.draft, core) }));
    return cfg;
  }
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

/** Requests kept per kind (and per kind and n). */
const CYCLES_WINDOW = 16;

/**
 * How many speculative cycles the full model's own requests (every candidate the full plan) take per
 * token of their longest candidate, per kind of request (cycleKind). A request of other plans counts
 * its cycles against as many as the full model would take for its tokens: candidates under head
 * masks or skip cores accept fewer drafts, and differing candidates make a request wait for its
 * slowest (eight greedy candidates of the full model are one path; eight differently masked ones
 * are eight, and the request takes as many cycles as the slowest needs). And their cycles' wall time
 * per token, per kind and n: a request that cannot speculate (candidates on different cores) counts
 * its decode against that.
 */
export class FullModelCycles {
  private readonly windows = new Map<string, number[]>();
  /** Per kind and n, the full model's requests' cycle time per token of their longest candidate (ms). */
  private readonly times = new Map<string, number[]>();

  /** A full-model request: its n, cycles, its longest candidate's tokens and its cycles' wall time (ms). */
  record(kind: string, n: number, cycles: number, tokens: number, ms: number): void {
    if (cycles <= 0 || tokens <= 0) return;
    keep(this.windows, kind, cycles / tokens);
    keep(this.times, `${kind}#${n}`, ms / tokens);
  }

  /** The median cycles per token of the full model's requests of this kind, or null before any. */
  perToken(kind: string): number | null {
    const w = this.windows.get(kind);
    return w?.length ? median(w) : null;
  }

  /**
   * What the full model's cycles would take (ms) for `tokens` tokens of a request of this kind and
   * n: the median time per token of its own such requests (their rows ending one by one included);
   * null before any.
   */
  decodeMs(kind: string, n: number, tokens: number): number | null {
    const w = this.times.get(`${kind}#${n}`);
    return w?.length ? median(w) * tokens : null;
  }
}

function keep(m: Map<string, number[]>, key: string, x: number): void {
  const w = m.get(key) ?? [];
  w.push(x);
  if (w.length > CYCLES_WINDOW) w.shift();
  m.set(key, w);
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
