/**
 * The skip plans the robustness table is measured under: each single head masked, each single
 * sublayer skipped, and random skip cores that remove about 25% / 50% of the sublayer FLOPs.
 * Random cores (src/plans/random-core.ts) draw from layers 1..L-1 (layer 0 is spared, as in
 * training); FLOPs per sublayer come from src/plans/cost.ts (projections only; the lm_head is not a
 * sublayer).
 */
import { planCost } from '../../../src/plans/cost.ts';
import { randomCore } from '../../../src/plans/random-core.ts';
import type { SkipPlan } from '../../../src/plans/plan.ts';
import type { ModelInfo } from '../../../src/model/model-info.ts';
import { Rng } from '../../../src/util/rng.ts';

/** A named plan of the suite. */
export interface SuitePlan {
  name: string;
  group: 'full' | 'head' | 'sublayer' | 'core25' | 'core50';
  plan: SkipPlan;
  /** Removed fraction of the sublayer FLOPs. */
  removed: number;
}

const empty = (): SkipPlan => ({ skipAttention: [], skipMlp: [], maskHeads: {} });

/** Fraction of all sublayer FLOPs a plan removes (src/plans/cost.ts). */
export function removedSublayerFraction(plan: SkipPlan, info: ModelInfo): number {
  return planCost(plan, info).sublayerFraction;
}

/** Every plan of the suite, in table order. */
export function suitePlans(info: ModelInfo, coresPerTarget: number, seed: number): SuitePlan[] {
  const out: SuitePlan[] = [{ name: 'full', group: 'full', plan: empty(), removed: 0 }];
  for (let l = 0; l < info.numLayers; l++) {
    for (let h = 0; h < info.numHeads; h++) out.push({ name: `head L${l}H${h}`, group: 'head', plan: { ...empty(), maskHeads: { [l]: [h] } }, removed: 0 });
  }
  for (let l = 0; l < info.numLayers; l++) {
    for (const kind of ['attn', 'mlp'] as const) {
      const plan = kind === 'attn' ? { ...empty(), skipAttention: [l] } : { ...empty(), skipMlp: [l] };
      out.push({ name: `skip ${kind} L${l}`, group: 'sublayer', plan, removed: removedSublayerFraction(plan, info) });
    }
  }
  const rng = new Rng(seed);
  for (const [target, group] of [[0.25, 'core25'], [0.5, 'core50']] as const) {
    for (let i = 0; i < coresPerTarget; i++) {
      const plan = randomCore(info, target, rng);
      const desc = `attn[${plan.skipAttention.join(',')}] mlp[${plan.skipMlp.join(',')}]`;
      out.push({ name: `core${Math.round(target * 100)} #${i + 1} ${desc}`, group, plan, removed: removedSublayerFraction(plan, info) });
    }
  }
  return out;
}
