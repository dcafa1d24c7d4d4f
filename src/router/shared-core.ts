/**
 * Sharing a live skip core. Under mixed load, requests whose policies pick different cores split
 * the batch into groups that each pay a step's fixed cost with fewer rows, and a small core's
 * saving can vanish. A policy that derives its core from importances (expert-profile) may take a
 * core already in flight instead of its own when that core reaches its target too and costs at
 * most `tolerance` more than its own core: the request joins a larger group. What a core costs is
 * the accuracy its sublayers' skips lost one by one at calibration where calibration measured it
 * (the measure the latency-budget core is chosen by), else its importance on the domain.
 */
import type { CalibrationResult, ImportanceTable } from './calibration.ts';
import { staticImportance, sublayerAccuracyLoss } from './calibrated-cores.ts';
import { coreToPlan, predictedSpeedup, type LatencyTable, type Sublayer } from './skip-core-search.ts';
import { coreKey, type SkipPlan } from '../plans/plan.ts';

/** A skip core of requests running or waiting in the engine, and how many candidate rows it has. */
export interface LiveCore {
  plan: SkipPlan;
  rows: number;
  /** No row in flight: a request on it finished a moment ago (its rows), engine/recent-cores.ts. */
  recent?: boolean;
}

/** The sublayers a core skips. */
export function planSublayers(p: SkipPlan): Sublayer[] {
  return [...p.skipAttention.map((layer) => ({ kind: 'attention' as const, layer })), ...p.skipMlp.map((layer) => ({ kind: 'mlp' as const, layer }))];
}

/** Importance a core loses on a domain: the sum of its sublayers' importances. */
export function coreLoss(t: ImportanceTable, core: readonly Sublayer[]): number {
  return core.reduce((sum, x) => sum + staticImportance(t, x), 0);
}

/** What a core costs, for comparing two cores. */
export type CoreCost = (core: readonly Sublayer[]) => number;

const measuredLoss = new WeakMap<CalibrationResult, ((s: Sublayer) => number) | null>();

/**
 * The cost by which a domain's own core and a live core are compared: the sum of the accuracy its
 * sublayers' single skips lost on the calibration questions when the calibration has them, else
 * the domain's importances. The domain's own core is the least-importance core by construction,
 * so judged by importance alone any other core looks worse than it measures (on the default model
 * the latency-budget core at 1.3x loses 2-4x the importance of each domain's own core, but less
 * measured accuracy: README, expert-profile under mixed load).
 */
export function sharingCost(cal: CalibrationResult, domain: ImportanceTable): { cost: CoreCost; measure: 'accuracy' | 'importance' } {
  if (!measuredLoss.has(cal)) measuredLoss.set(cal, sublayerAccuracyLoss(cal));
  const acc = measuredLoss.get(cal);
  if (acc) return { cost: (core) => core.reduce((sum, x) => sum + acc(x), 0), measure: 'accuracy' };
  return { cost: (core) => coreLoss(domain, core), measure: 'importance' };
}

/**
 * The live core to take instead of `own`, or null: among live (or recent) cores that skip
 * sublayers only (no head masks), reach `target` on `table`, cost at most (1 + tolerance) x own's
 * cost and have more rows than `own` has in flight, the one with the most rows (ties: the lower cost).
 */
export function shareableCore(
  own: readonly Sublayer[],
  live: readonly LiveCore[],
  cost: CoreCost,
  table: LatencyTable,
  target: number,
  tolerance: number,
): { core: Sublayer[]; rows: number; cost: number; predictedSpeedup: number } | null {
  if (!(tolerance > 0) || own.length === 0) return null;
  const ownKey = coreKey(coreToPlan([...own]));
  // Its own core's rows in flight (a request of its own core that just finished does not hold it back).
  const ownRows = live.find((c) => !c.recent && coreKey(c.plan) === ownKey)?.rows ?? 0;
  const limit = cost(own) * (1 + tolerance);
  let best: { core: Sublayer[]; rows: number; cost: number; predictedSpeedup: number } | null = null;
  for (const c of live) {
    if (Object.keys(c.plan.maskHeads).length || c.rows <= ownRows || coreKey(c.plan) === ownKey) continue;
    const core = planSublayers(c.plan);
    if (!core.length) continue;
    const speed = predictedSpeedup(table, core);
    const liveCost = cost(core);
    if (speed < target || liveCost > limit) continue;
    if (!best || c.rows > best.rows || (c.rows === best.rows && liveCost < best.cost)) best = { core, rows: c.rows, cost: liveCost, predictedSpeedup: speed };
  }
  return best;
}
