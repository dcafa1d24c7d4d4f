/**
 * Policy `random-heads`: each candidate masks k attention heads drawn at random over all layers,
 * seeded by the request seed + candidate index (same seed, same plans). At most numHeads - 1 heads
 * are masked in any one layer, and candidates get distinct masks whenever the model has enough heads.
 */
import { InvalidRequestError } from '../../errors.ts';
import { Rng } from '../../util/rng.ts';
import type { SkipPlan } from '../plan.ts';
import type { SkipPolicy } from './policy.ts';

/** Draws one plan masking k heads; keeps at least one head per layer. */
function drawPlan(rng: Rng, k: number, numLayers: number, numHeads: number): SkipPlan {
  const chosen = new Set<number>();
  const perLayer = new Array<number>(numLayers).fill(0);
  while (chosen.size < k) {
    const slot = rng.nextU32() % (numLayers * numHeads);
    const layer = Math.floor(slot / numHeads);
    if (chosen.has(slot) || perLayer[layer]! >= numHeads - 1) continue;
    chosen.add(slot);
    perLayer[layer]!++;
  }
  const maskHeads: Record<number, number[]> = {};
  for (const slot of [...chosen].sort((a, b) => a - b)) (maskHeads[Math.floor(slot / numHeads)] ??= []).push(slot % numHeads);
  return { skipAttention: [], skipMlp: [], maskHeads };
}

const keyOf = (p: SkipPlan) => JSON.stringify(p.maskHeads);

/** Creates the `random-heads` policy with a default k. */
export function randomHeadsPolicy(defaultK: number): SkipPolicy {
  return {
    name: 'random-heads',
    description: 'each candidate masks k random attention heads (skip.k), seeded by seed + index',
    unavailableReason: () => null,
    async choose(ctx) {
      const { numLayers, numHeads } = ctx.info;
      const k = ctx.options.k ?? defaultK;
      const maxK = numLayers * (numHeads - 1);
      if (!Number.isInteger(k) || k < 0 || k > maxK) {
        throw new InvalidRequestError(`k (heads to mask) must be an integer in [0, ${maxK}] for this model (${numLayers} layers x ${numHeads} heads, one head kept per layer); got ${k}`, 'k');
      }
      const seen = new Set<string>();
      const plans: SkipPlan[] = [];
      for (let i = 0; i < ctx.n; i++) {
        const rng = new Rng(ctx.seed + i);
        let plan = drawPlan(rng, k, numLayers, numHeads);
        // Redraw (from the same stream) on a collision; give up after a few tries on tiny models.
        for (let tries = 0; seen.has(keyOf(plan)) && tries < 32; tries++) plan = drawPlan(rng, k, numLayers, numHeads);
        seen.add(keyOf(plan));
        plans.push(plan);
      }
      return { plans, detail: { k } };
    },
  };
}
