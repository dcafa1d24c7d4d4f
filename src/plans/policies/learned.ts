/**
 * `learned`: the router. The prompt's own mean-pooled hidden state goes through the ONNX selector,
 * which scores every catalog plan by cosine similarity; the N best distinct plans go to the N
 * candidates, on top of a shared skip core from latency-budget when `skip.target_speedup` is given.
 * Unavailable (with the reason) when selector.onnx is missing.
 */
import { entryPlan } from '../../router/catalog.ts';
import { type RouterResources } from '../../router/resources.ts';
import { topN } from '../../router/selector-session.ts';
import { sublayerKey } from '../../router/skip-core-search.ts';
import { InvalidRequestError } from '../../errors.ts';
import { FULL_PLAN, type SkipPlan } from '../plan.ts';
import { chooseLatencyBudgetCore } from './latency-budget.ts';
import type { PolicyContext, PolicyResult, SkipPolicy } from './policy.ts';

/** Creates the policy over the loaded router resources. */
export function createLearnedPolicy(r: RouterResources): SkipPolicy {
  return {
    name: 'learned',
    description: 'selector picks N distinct head-mask plans from the catalog per prompt (+ latency-budget core with skip.target_speedup)',
    unavailableReason: () => r.selectorMissing,
    async choose(ctx: PolicyContext): Promise<PolicyResult> {
      const { selector, catalog } = r;
      if (!selector || !catalog) throw new Error(r.selectorMissing ?? 'selector not loaded');
      if (ctx.n > catalog.entries.length) {
        throw new InvalidRequestError(`n must be at most ${catalog.entries.length} (the plan catalog's size) for the learned policy, got ${ctx.n}`, 'n');
      }
      let core: SkipPlan = FULL_PLAN;
      let coreDetail: Record<string, unknown> = {};
      if (ctx.options.targetSpeedup !== undefined && ctx.options.targetSpeedup > 1) {
        const c = await chooseLatencyBudgetCore(r, ctx.n, ctx.promptTokens.length, ctx.options.targetSpeedup);
        core = c.plan;
        coreDetail = { targetSpeedup: ctx.options.targetSpeedup, predictedSpeedup: Number(c.result.predictedSpeedup.toFixed(3)), core: c.result.core.map(sublayerKey) };
      }
      const [scores] = await selector.score([await ctx.embedPrompt()]);
      const picked = topN(scores!, ctx.n);
      return {
        plans: picked.map((i) => entryPlan(catalog.entries[i]!, core)),
        detail: { ...coreDetail, catalogIds: picked.map((i) => catalog.entries[i]!.id), scores: picked.map((i) => Number(scores![i]!.toFixed(4))) },
      };
    },
  };
}
