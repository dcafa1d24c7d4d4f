/**
 * Sharing a live skip core. Under mixed load, requests whose policies pick different cores split
 * the batch into groups that each pay a step's fixed cost with fewer rows, and a small core's
 * saving can vanish. A policy that derives its core from importances (expert-profile) may take a
 * core already in flight instead of its own when that core reaches its target too and costs its
 * domain at most `tolerance` more importance than its own core: the request joins a larger group.
 */
import type { ImportanceTable } from './calibration.ts';
import { staticImportance } from './calibrated-cores.ts';
import { coreToPlan, predictedSpeedup, type LatencyTable, type Sublayer } from './skip-core-search.ts';
import { coreKey, type SkipPlan } from '../plans/plan.ts';

/** A skip core of requests running or waiting in the engine, and how many candidate rows it has. */
export interface LiveCore {
  plan: SkipPlan;
  rows: number;
}

/** The sublayers a core skips. */
export function planSublayers(p: SkipPlan): Sublayer[] {
  return [...p.skipAttention.map((layer) => ({ kind: 'attention' as const, layer })), ...p.skipMlp.map((layer) => ({ kind: 'mlp' as const, layer }))];
}

/** Importance a core loses on a domain: the sum of its sublayers' importances. */
export function coreLoss(t: ImportanceTable, core: readonly Sublayer[]): number {
  return core.reduce((sum, x) => sum + staticImportance(t, x), 0);
}

/**
 * The live core to take instead of `own`, or null: among live cores that skip sublayers only
 * (no head masks), reach `target` on `table`, lose at most (1 + tolerance) x own's loss on the
 * domain and have more rows in flight than `own` itself, the one with the most rows (ties: the
 * lower loss).
 */
export function shareableCore(
  own: readonly Sublayer[],
  live: readonly LiveCore[],
  t: ImportanceTable,
  table: LatencyTable,
  target: number,
  tolerance: number,
): { core: Sublayer[]; rows: number; loss: number; predictedSpeedup: number } | null {
  if (!(tolerance > 0) || own.length === 0) return null;
  const ownKey = coreKey(coreToPlan([...own]));
  const ownRows = live.find((c) => coreKey(c.plan) === ownKey)?.rows ?? 0;
  const limit = coreLoss(t, own) * (1 + tolerance);
  let best: { core: Sublayer[]; rows: number; loss: number; predictedSpeedup: number } | null = null;
  for (const c of live) {
    if (Object.keys(c.plan.maskHeads).length || c.rows <= ownRows || coreKey(c.plan) === ownKey) continue;
    const core = planSublayers(c.plan);
    if (!core.length) continue;
    const speed = predictedSpeedup(table, core);
    const loss = coreLoss(t, core);
    if (speed < target || loss > limit) continue;
    if (!best || c.rows > best.rows || (c.rows === best.rows && loss < best.loss)) best = { core, rows: c.rows, loss, predictedSpeedup: speed };
  }
  return best;
}
