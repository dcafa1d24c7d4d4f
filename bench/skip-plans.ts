/** The plans bench:skip compares: skip cores removing a target share of the FLOPs, and per-row head masks. */
import type { ModelInfo } from '../src/model/model-info.ts';
import { planCost, type SkipPlan } from '../src/plans/plan.ts';
import { Rng } from '../src/util/rng.ts';

/** A skip core removing about `target` of the per-token FLOPs: whole layers spread over the depth, then single sublayers. */
export function skipCoreFor(info: ModelInfo, target: number): SkipPlan {
  const L = info.numLayers;
  const order: number[] = [];
  for (let step = 0; order.length < L - 2; step++) {
    const l = 1 + Math.round(((step * 0.618034) % 1) * (L - 3));
    if (!order.includes(l)) order.push(l);
    if (step > 10 * L) break;
  }
  const plan: SkipPlan = { skipAttention: [], skipMlp: [], maskHeads: {} };
  const f = () => planCost(plan, info).removedFraction;
  for (const l of order) {
    const trial = { ...plan, skipAttention: [...plan.skipAttention, l], skipMlp: [...plan.skipMlp, l] };
    if (planCost(trial, info).removedFraction <= target) Object.assign(plan, trial);
  }
  for (const l of order) {
    if (plan.skipMlp.includes(l)) continue;
    for (const key of ['skipMlp', 'skipAttention'] as const) {
      const trial = { ...plan, [key]: [...plan[key], l] };
      if (Math.abs(planCost(trial, info).removedFraction - target) < Math.abs(f() - target)) Object.assign(plan, trial);
    }
  }
  return plan;
}

/** One plan per row, each masking a quarter of the heads of every layer. */
export function headMaskPlans(info: ModelInfo, B: number): SkipPlan[] {
  const rng = new Rng(5);
  const k = Math.max(1, Math.floor(info.numHeads / 4));
  return Array.from({ length: B }, () => {
    const maskHeads: Record<number, number[]> = {};
    for (let l = 0; l < info.numLayers; l++) {
      const heads = new Set<number>();
      while (heads.size < k) heads.add(rng.nextU32() % info.numHeads);
      maskHeads[l] = [...heads];
    }
    return { skipAttention: [], skipMlp: [], maskHeads };
  });
}
