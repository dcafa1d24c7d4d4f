/**
 * `learned`: the router. The prompt's own mean-pooled hidden state (and, when the selector was
 * trained with them, the prompt's text features) goes through the ONNX selector, which scores every
 * catalog plan by cosine similarity; the N best distinct plans go to the N candidates.
 * Fast mode (`skip.target_speedup` > 1): every candidate shares the latency-budget core (chosen by
 * target and batch-size bucket only, so concurrent requests share it too) and gets the best
 * head-mask plans on top: sublayer entries would split the batch's core, and a head masked in a
 * sublayer the core skips would change nothing. Unavailable (with the reason) when selector.onnx
 * is missing.
 */
import { entryPlan, isHeadMaskEntry, type CatalogEntry } from '../../router/catalog.ts';
import { type RouterResources } from '../../router/resources.ts';
import { topN } from '../../router/selector-session.ts';
import { textFeatures } from '../../router/text-features.ts';
import { InvalidRequestError } from '../../errors.ts';
import { FULL_PLAN, planKey, type SkipPlan } from '../plan.ts';
import { chooseLatencyBudgetCore, coreDetail } from './latency-budget.ts';
import type { PolicyContext, PolicyResult, SkipPolicy } from './policy.ts';

/** Catalog entries that may go on top of `core`: head masks only, each masking a head the core still computes. */
export function entriesForCore(entries: readonly CatalogEntry[], core: SkipPlan): Set<number> {
  const skipped = new Set(core.skipAttention);
  const out = new Set<number>();
  entries.forEach((e, i) => {
    if (isHeadMaskEntry(e) && e.heads.some(([l]) => !skipped.has(l))) out.add(i);
  });
  return out;
}

/** Creates the policy over the loaded router resources. */
export function createLearnedPolicy(r: RouterResources): SkipPolicy {
  return {
    name: 'learned',
    description: 'selector picks N distinct plans from the catalog per prompt (fast mode with skip.target_speedup: latency-budget core + N head-mask plans)',
    unavailableReason: () => r.selectorMissing,
    async choose(ctx: PolicyContext): Promise<PolicyResult> {
      const { selector, catalog } = r;
      if (!selector || !catalog) throw new Error(r.selectorMissing ?? 'selector not loaded');
      let core: SkipPlan = FULL_PLAN;
      let detail: Record<string, unknown> = {};
      let allowed: Set<number> | null = null;
      if (ctx.options.targetSpeedup !== undefined && ctx.options.targetSpeedup > 1) {
        const c = await chooseLatencyBudgetCore(r, ctx.n, ctx.options.targetSpeedup);
        core = c.plan;
        allowed = entriesForCore(catalog.entries, core);
        detail = coreDetail(c.result, ctx.options.targetSpeedup);
      }
      const available = allowed ? allowed.size : catalog.entries.length;
      if (ctx.n > available) {
        const what = allowed ? 'head-mask plans in the catalog that fit this skip core' : "plans in the catalog";
        throw new InvalidRequestError(`n must be at most ${available} (the ${what}) for the learned policy, got ${ctx.n}`, 'n');
      }
      const features = selector.featureDim > 0 ? [textFeatures(ctx.promptText, ctx.promptTokens.length)] : undefined;
      const [scores] = await selector.score([await ctx.embedPrompt()], features);
      const excluded = new Set<number>();
      if (allowed) for (let i = 0; i < catalog.entries.length; i++) if (!allowed.has(i)) excluded.add(i);
      // Best first; an entry whose plan on this core equals a better one's adds nothing and is passed over.
      const picked: number[] = [];
      const plans: SkipPlan[] = [];
      const seen = new Set<string>();
      for (const i of topN(scores!, catalog.entries.length, excluded)) {
        const plan = entryPlan(catalog.entries[i]!, core);
        const key = planKey(plan);
        if (seen.has(key)) continue;
        seen.add(key);
        picked.push(i);
        plans.push(plan);
        if (plans.length === ctx.n) break;
      }
      if (plans.length < ctx.n) throw new InvalidRequestError(`n must be at most ${plans.length} (the distinct catalog plans on this skip core) for the learned policy, got ${ctx.n}`, 'n');
      return {
        plans,
        detail: { ...detail, catalogIds: picked.map((i) => catalog.entries[i]!.id), scores: picked.map((i) => Number(scores![i]!.toFixed(4))) },
      };
    },
  };
}
