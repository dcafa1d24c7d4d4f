/**
 * `head-importance`: masks the k heads that calibration found least important (static head
 * pruning, as in the mBERT head-pruning and Michel et al. work). Every candidate gets the same
 * plan; their diversity comes from sampling alone.
 */
import { type RouterResources } from '../../router/resources.ts';
import { leastImportantHeads } from '../../router/calibrated-cores.ts';
import { InvalidRequestError } from '../../errors.ts';
import type { SkipPlan } from '../plan.ts';
import type { PolicyContext, PolicyResult, SkipPolicy } from './policy.ts';

/** Creates the policy over the loaded router resources; `defaultK` heads when a request gives none. */
export function createHeadImportancePolicy(r: RouterResources, defaultK = 1): SkipPolicy {
  return {
    name: 'head-importance',
    description: 'masks the k least important heads found by calibration (static; k = skip.k, default ' + defaultK + ')',
    unavailableReason: () => r.calibrationMissing,
    async choose(ctx: PolicyContext): Promise<PolicyResult> {
      const cal = r.calibration;
      if (!cal) throw new Error(r.calibrationMissing ?? 'no calibration');
      const k = ctx.options.k ?? defaultK;
      const total = cal.numLayers * cal.numHeads;
      if (!Number.isInteger(k) || k < 1 || k >= total) {
        throw new InvalidRequestError(`k (heads to mask) must be an integer from 1 to ${total - 1} for head-importance, got ${k}`, 'k');
      }
      const heads = leastImportantHeads(cal.importance, k);
      const maskHeads: Record<number, number[]> = {};
      for (const [l, h] of heads) (maskHeads[l] ??= []).push(h);
      for (const l of Object.keys(maskHeads)) maskHeads[Number(l)]!.sort((a, b) => a - b);
      const plan: SkipPlan = { skipAttention: [], skipMlp: [], maskHeads };
      return { plans: Array.from({ length: ctx.n }, () => structuredClone(plan)), detail: { k, masked: heads.map(([l, h]) => `${l}.${h}`) } };
    },
  };
}
