/**
 * Random skip cores: a seeded draw of attention and MLP sublayers of layers 1..L-1 (layer 0 is
 * spared, as in training) whose removed share of the sublayer FLOPs (src/plans/cost.ts) is closest
 * to a target. The robustness suite measures the model under them; the `sub-networks` policy gives
 * each candidate one.
 */
import { sublayerFlops } from './cost.ts';
import type { PlanShape, SkipPlan } from './plan.ts';
import type { Rng } from '../util/rng.ts';

/** A random skip core over layers >= 1 whose removed sublayer-FLOP fraction is closest to `target`. */
export function randomCore(shape: PlanShape, target: number, rng: Rng): SkipPlan {
  const f = sublayerFlops(shape);
  const total = shape.numLayers * (f.attention + f.mlp);
  const cands: ['a' | 'm', number][] = [];
  for (let l = 1; l < shape.numLayers; l++) cands.push(['a', l], ['m', l]);
  for (let i = cands.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [cands[i], cands[j]] = [cands[j]!, cands[i]!];
  }
  const plan: SkipPlan = { skipAttention: [], skipMlp: [], maskHeads: {} };
  let removed = 0;
  for (const [kind, l] of cands) {
    const cost = kind === 'a' ? f.attention : f.mlp;
    if (Math.abs(removed + cost - target * total) < Math.abs(removed - target * total)) {
      removed += cost;
      (kind === 'a' ? plan.skipAttention : plan.skipMlp).push(l);
    }
  }
  plan.skipAttention.sort((a, b) => a - b);
  plan.skipMlp.sort((a, b) => a - b);
  return plan;
}
