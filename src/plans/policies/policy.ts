/**
 * The policy interface: a policy turns one request into N skip plans, one per candidate.
 * The engine only calls `choose`; new policies plug in by registering, without touching it.
 */
import type { ModelInfo } from '../../model/model-info.ts';
import type { SkipPlan, SkipPlanWire } from '../plan.ts';
import type { LiveCore } from '../../router/shared-core.ts';
import type { SelectMode } from '../../engine/vote.ts';

/** Policy-specific options from the request's skip options (each policy checks the ones it reads). */
export interface PolicyOptions {
  /** explicit: one plan for all candidates, or one per candidate (plan JSON, checked by the policy). */
  plan?: SkipPlanWire;
  plans?: SkipPlanWire[];
  /** random-heads / head-importance: heads to mask per candidate. */
  k?: number;
  /** latency-budget / learned: the speedup the shared skip core should reach. */
  targetSpeedup?: number;
  /** expert-profile: the domain whose profile to use. */
  domain?: string;
  /** sub-networks: the share of the sublayer FLOPs each sub-network skips (default 0.1). */
  coreFraction?: number;
}

export interface PolicyContext {
  info: ModelInfo;
  /** Number of candidates. */
  n: number;
  /** Request seed; candidate i uses seed + i. */
  seed: number;
  promptTokens: number[];
  promptText: string;
  options: PolicyOptions;
  /** Mean-pooled hidden state of the prompt from the model's own prefill (for the learned router). */
  embedPrompt: () => Promise<Float32Array>;
  /** Skip cores of the requests running or waiting now, with their candidate rows (absent: none known). */
  liveCores?: () => LiveCore[];
}

export interface PolicyResult {
  /** Exactly `n` plans, fitting the model (a policy builds them from the model's shape). */
  plans: SkipPlan[];
  /** Free-form facts for the response / logs (e.g. the inferred domain). */
  detail?: Record<string, unknown>;
}

export interface SkipPolicy {
  readonly name: string;
  readonly description: string;
  /** null when usable, else why not (e.g. "selector.onnx not found"). */
  unavailableReason(): string | null;
  /** How a request of this policy picks its answer when it does not say (absent: the majority vote). */
  readonly defaultSelect?: SelectMode;
  choose(ctx: PolicyContext): Promise<PolicyResult>;
  /**
   * The skip core every request of `n` candidates at `targetSpeedup` (default: the server's) shares,
   * whatever its prompt (latency-budget; `learned` fast mode takes the same core). The server builds
   * the default one's graph at startup; the evaluation runs N that share a core as one request.
   * Absent: the policy has no such core; null: none now (no calibration or latency table).
   */
  sharedCore?(n: number, targetSpeedup?: number): Promise<SkipPlan | null>;
}
