/**
 * Cost of a skip plan: the fraction of the model's per-token matmul FLOPs it removes (q/k/v/o and
 * gate/up/down projections per layer, plus the lm_head, which is never skipped). Attention-score
 * FLOPs depend on context length and are left out; head masks save no FLOPs (they are masks).
 * Ideal speedup = 1 / (1 - removedFraction).
 */
import type { PlanShape, SkipPlan } from './plan.ts';

export interface PlanCost {
  /** Per-token matmul FLOPs of the full model. */
  totalFlops: number;
  /** FLOPs the plan removes. */
  removedFlops: number;
  /** removedFlops / totalFlops. */
  removedFraction: number;
  /** removedFlops / the FLOPs of all attention and MLP sublayers (lm_head left out): what random skip cores are drawn by. */
  sublayerFraction: number;
  /** 1 / (1 - removedFraction). */
  idealSpeedup: number;
  /** Masked heads / all heads (no compute saved; shown for diversity accounting). */
  maskedHeadFraction: number;
}

/** Per-token FLOPs (2 per multiply-add) of one attention sublayer, one MLP sublayer, and the lm_head. */
export function sublayerFlops(s: PlanShape): { attention: number; mlp: number; head: number } {
  const hidden = s.hiddenSize ?? 0;
  const D = s.headDim ?? (hidden && s.numHeads ? hidden / s.numHeads : 0);
  const kv = s.numKvHeads ?? s.numHeads;
  const ff = s.intermediateSize ?? 0;
  if (!hidden || !ff || !s.vocabSize) throw new Error('plan cost needs hiddenSize, intermediateSize and vocabSize');
  return {
    attention: 2 * hidden * D * (2 * s.numHeads + 2 * kv),
    mlp: 2 * 3 * hidden * ff,
    head: 2 * hidden * s.vocabSize,
  };
}

/** Computes a plan's cost relative to the full model. */
export function planCost(plan: SkipPlan, shape: PlanShape): PlanCost {
  const f = sublayerFlops(shape);
  const totalFlops = shape.numLayers * (f.attention + f.mlp) + f.head;
  const removedFlops = new Set(plan.skipAttention).size * f.attention + new Set(plan.skipMlp).size * f.mlp;
  const removedFraction = removedFlops / totalFlops;
  const masked = Object.values(plan.maskHeads).reduce((a, h) => a + h.length, 0);
  return {
    totalFlops,
    removedFlops,
    removedFraction,
    sublayerFraction: removedFlops / (shape.numLayers * (f.attention + f.mlp)),
    idealSpeedup: 1 / (1 - removedFraction),
    maskedHeadFraction: masked / (shape.numLayers * shape.numHeads),
  };
}
