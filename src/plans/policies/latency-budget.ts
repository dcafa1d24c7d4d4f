/**
 * `latency-budget`: picks the shared skip core that reaches `skip.target_speedup` (or the server
 * default) on this machine's measured latency profile, skipping the sublayers with the least
 * accuracy (or, without single-skip calibration, importance) lost per millisecond saved
 * (calibrated-cores.ts; the sublayer-pruning idea).
 * All candidates share the core, so the whole batch really skips it; and the core depends only on
 * the target and the batch-size bucket (never on the prompt), so concurrent requests with the same
 * target share it too and decode in one step.
 */
import { latencyTableFor, type RouterResources } from '../../router/resources.ts';
import { coreToPlan, sublayerKey, type GreedyResult } from '../../router/skip-core-search.ts';
import { latencyBudgetCore } from '../../router/calibrated-cores.ts';
import { trainedCoreFor } from '../../router/trained-cores.ts';
import { InvalidRequestError } from '../../errors.ts';
import type { SkipPlan } from '../plan.ts';
import type { PolicyContext, PolicyResult, SkipPolicy } from './policy.ts';

/** Largest target a request may ask for. */
export const MAX_TARGET_SPEEDUP = 8;

/** The shared core for a request of n candidates (also used by `learned` when a target is given); `scale`: see latencyTableFor. */
export async function chooseLatencyBudgetCore(r: RouterResources, n: number, target: number, scale?: number): Promise<{ plan: SkipPlan; result: GreedyResult }> {
  if (!r.calibration) throw new Error(r.calibrationMissing ?? 'no calibration');
  if (!(target >= 1 && target <= MAX_TARGET_SPEEDUP)) {
    throw new InvalidRequestError(`target speedup must be between 1 and ${MAX_TARGET_SPEEDUP}, got ${target}`, 'targetSpeedup');
  }
  const table = latencyTableFor(r, n, scale);
  if (!table) throw new Error('no latency profile and no calibrated latency table');
  // A core the model was trained for comes first; the calibrated search only when none reaches the target.
  const result = trainedCoreFor(r.trainedCores, table, target) ?? (await latencyBudgetCore(r.calibration, table, target));
  return { plan: coreToPlan(result.core), result };
}

/** What a response says of the shared core it runs on (latency-budget, and the fast modes that take its core). */
export function coreDetail(result: GreedyResult, target: number): Record<string, unknown> {
  return { ...('name' in result ? { trainedCore: result.name } : {}), targetSpeedup: target, predictedSpeedup: Number(result.predictedSpeedup.toFixed(3)), core: result.core.map(sublayerKey) };
}

/** Creates the policy over the loaded router resources. */
export function createLatencyBudgetPolicy(r: RouterResources): SkipPolicy {
  return {
    name: 'latency-budget',
    description: `shared skip core reaching skip.target_speedup (default ${r.defaultTargetSpeedup}) with the least accuracy lost per ms saved`,
    unavailableReason: () => r.calibrationMissing,
    async sharedCore(n: number, targetSpeedup?: number): Promise<SkipPlan | null> {
      if (r.calibrationMissing || !latencyTableFor(r, n)) return null;
      return (await chooseLatencyBudgetCore(r, n, targetSpeedup ?? r.defaultTargetSpeedup)).plan;
    },
    async choose(ctx: PolicyContext): Promise<PolicyResult> {
      const target = ctx.options.targetSpeedup ?? r.defaultTargetSpeedup;
      const { plan, result } = await chooseLatencyBudgetCore(r, ctx.n, target);
      return {
        plans: Array.from({ length: ctx.n }, () => structuredClone(plan)),
        detail: { ...coreDetail(result, target), reached: result.reached },
      };
    },
  };
}
