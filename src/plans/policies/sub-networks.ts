/**
 * Policy `sub-networks`: an ensemble of sub-models instead of (only) samples of one model.
 * Candidate 0 is the full model; candidate i >= 1 decodes under the i-th of a fixed, seeded list of
 * random skip cores, each removing about 10% of the sublayer FLOPs (src/plans/random-core.ts). A
 * model trained with random skip cores (the default model is) answers under each of them; their
 * errors differ more than samples of one model do, and each scores its own completion, so under
 * `select: "weighted"` (this policy's default) an unsure sub-network weighs little (README "Router and policies",
 * *Selection rules and a sub-network ensemble*). The list is the same for every request, so rows of
 * one sub-network batch across requests.
 * Without a target the candidates share no core: nothing is skipped for the whole batch, so it
 * costs what the full model costs (a per-row skip is a mask). Fast mode (`skip.target_speedup` > 1):
 * every candidate also skips the latency-budget core of that target (the core `latency-budget` and
 * `learned` fast mode share), so the whole batch runs the core's graph and each sub-network's own
 * sublayers are masks on top of it.
 */
import { Rng } from '../../util/rng.ts';
import { InvalidRequestError } from '../../errors.ts';
import type { RouterResources } from '../../router/resources.ts';
import type { PlanShape, SkipPlan } from '../plan.ts';
import { randomCore } from '../random-core.ts';
import { chooseLatencyBudgetCore, coreDetail } from './latency-budget.ts';
import type { PolicyResult, SkipPolicy } from './policy.ts';

/** Share of the sublayer FLOPs each sub-network skips. */
export const SUB_NETWORK_FRACTION = 0.1;
/** Seed of the served list (the draw `router vote-rules --core-seed 7` measures). */
export const SUB_NETWORK_SEED = 7;

/** The first n sub-networks of the list seeded by `seed`: the full model, then random cores of about `frac`. */
export function subNetworkPlans(shape: PlanShape, n: number, frac = SUB_NETWORK_FRACTION, seed = SUB_NETWORK_SEED): SkipPlan[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, (_, i) => (i === 0 ? { skipAttention: [], skipMlp: [], maskHeads: {} } : randomCore(shape, frac, rng)));
}

/** Each plan with the core's sublayers skipped as well (the union; head masks kept). */
export function onCore(plans: readonly SkipPlan[], core: SkipPlan): SkipPlan[] {
  const union = (a: readonly number[], b: readonly number[]) => [...new Set([...a, ...b])].sort((x, y) => x - y);
  return plans.map((p) => ({ skipAttention: union(p.skipAttention, core.skipAttention), skipMlp: union(p.skipMlp, core.skipMlp), maskHeads: structuredClone(p.maskHeads) }));
}

/**
 * Fast mode of a policy with a fixed plan list (`sub-networks`, `ensemble`): every plan on the
 * latency-budget core of `target` at the batch-size bucket of the plans' count. Without the
 * router's calibration a request gets a 400 naming skip.target_speedup.
 */
export async function onLatencyBudgetCore(r: RouterResources | null, policy: string, plans: SkipPlan[], detail: Record<string, unknown>, target: number): Promise<PolicyResult> {
  const missing = r ? r.calibrationMissing : 'no router resources';
  if (!r || missing) throw new InvalidRequestError(`skip.target_speedup needs the router's calibration for the ${policy} policy (${missing})`, 'targetSpeedup');
  const c = await chooseLatencyBudgetCore(r, plans.length, target);
  return { plans: onCore(plans, c.plan), detail: { ...detail, ...coreDetail(c.result, target) } };
}

/**
 * Creates the `sub-networks` policy (the list is drawn once, up to the most candidates a request
 * asks). `router` loads the router's resources, which only fast mode reads (absent: fast mode is
 * refused).
 */
export function subNetworksPolicy(router?: () => Promise<RouterResources>): SkipPolicy {
  // One seeded list per core fraction, drawn up to the most candidates a request asked.
  const lists = new Map<number, SkipPlan[]>();
  return {
    name: 'sub-networks',
    description: `candidate 0 the full model, candidate i its own fixed sub-network (a seeded random skip core of about ${100 * SUB_NETWORK_FRACTION}% of the sublayer FLOPs, or skip.core_fraction); select defaults to weighted; with skip.target_speedup every candidate also skips the latency-budget core`,
    unavailableReason: () => null,
    defaultSelect: 'weighted',
    async choose(ctx) {
      if (ctx.info.numLayers < 2) return { plans: Array.from({ length: ctx.n }, () => ({ skipAttention: [], skipMlp: [], maskHeads: {} })), detail: { subNetworks: 0 } };
      const fraction = ctx.options.coreFraction ?? SUB_NETWORK_FRACTION;
      let list = lists.get(fraction) ?? [];
      if (list.length < ctx.n) {
        if (!lists.has(fraction) && lists.size >= 16) lists.delete(lists.keys().next().value!); // bounded: fractions come from requests
        lists.set(fraction, (list = subNetworkPlans(ctx.info, ctx.n, fraction)));
      }
      const plans = list.slice(0, ctx.n);
      const detail = { fraction, seed: SUB_NETWORK_SEED };
      const target = ctx.options.targetSpeedup;
      if (target === undefined || target <= 1) return { plans, detail };
      return onLatencyBudgetCore(router ? await router() : null, 'sub-networks', plans, detail, target);
    },
  };
}
