/**
 * Policy `ensemble`: the calibrated sub-network ensemble. Candidate i decodes under the i-th plan
 * of the model's router/ensemble.json: skip plans (the full model among them) chosen offline as the
 * ones right most often on their own over calibration questions (src/router/ensemble.ts). Where
 * `sub-networks` draws its skip cores at random, these were measured; the list is the same for
 * every request, so rows of one plan batch across requests. Meant for `temperature: 0`: the plans
 * are then the only source of diversity, and each answers as well as it can. Its requests pick
 * by `select: "weighted"` unless they ask otherwise (each plan scores its own completion; on the
 * default model the weighted vote of its 8 greedy candidates measured 0.5 points above the
 * majority, README *Router and policies*).
 * Without a target the candidates share no core and the request costs what the full model costs;
 * fast mode (`skip.target_speedup` > 1) adds the latency-budget core to every plan, as
 * `sub-networks` does. Unavailable (with the reason) without a usable ensemble.json.
 */
import { InvalidRequestError } from '../../errors.ts';
import type { RouterResources } from '../../router/resources.ts';
import type { SkipPolicy } from './policy.ts';
import { onLatencyBudgetCore } from './sub-networks.ts';

/** Creates the policy over the loaded router resources. */
export function createEnsemblePolicy(r: RouterResources): SkipPolicy {
  return {
    name: 'ensemble',
    description: 'candidate i decodes under the i-th plan of the calibrated sub-network ensemble (router/ensemble.json: the plans right most often on their own at calibration); use temperature 0; select defaults to weighted; with skip.target_speedup every plan also skips the latency-budget core',
    unavailableReason: () => r.ensembleMissing,
    defaultSelect: 'weighted',
    async choose(ctx) {
      const ens = r.ensemble;
      if (!ens) throw new Error(r.ensembleMissing ?? 'ensemble not loaded');
      if (ctx.n > ens.plans.length) throw new InvalidRequestError(`n must be at most ${ens.plans.length} (the plans of the calibrated ensemble) for the ensemble policy, got ${ctx.n}`, 'n');
      const chosen = ens.plans.slice(0, ctx.n);
      const plans = chosen.map((p) => p.plan);
      const detail = { ensembleIds: chosen.map((p) => p.id) };
      const target = ctx.options.targetSpeedup;
      if (target === undefined || target <= 1) return { plans, detail };
      return onLatencyBudgetCore(r, 'ensemble', plans, detail, target);
    },
  };
}
