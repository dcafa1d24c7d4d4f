/**
 * Skip cores from calibration data at serving time: the latency-budget core (greedy path
 * re-scored with the importances calibration measured after each pick) and a domain's core
 * (greedy over that domain's importances). Both run on the live latency table when there is one.
 */
import type { CalibrationResult, ImportanceTable } from './calibration.ts';
import { greedySkipCore, sublayerKey, type GreedyResult, type LatencyTable, type Sublayer } from './skip-core-search.ts';

/** A sublayer's importance in a table (Infinity when the table has none). */
export function staticImportance(t: ImportanceTable, s: Sublayer): number {
  return (s.kind === 'attention' ? t.attention[s.layer] : t.mlp[s.layer]) ?? Infinity;
}

/**
 * The latency-budget core for `target` on `table`: where the current core matches a step of the
 * calibrated path, the importances re-measured there are used; past the path, the static ones.
 */
export function latencyBudgetCore(cal: CalibrationResult, table: LatencyTable, target: number): Promise<GreedyResult> {
  const steps = cal.latencyBudget?.steps ?? [];
  const lookup = new Map(steps.map((s) => [[...s.core].sort().join(','), s.importance]));
  return greedySkipCore({
    numLayers: cal.numLayers,
    latency: table,
    targetSpeedup: target,
    importance: (core, remaining) => {
      const measured = lookup.get(core.map(sublayerKey).sort().join(','));
      return remaining.map((s) => measured?.[sublayerKey(s)] ?? staticImportance(cal.importance, s));
    },
  });
}

/** A domain's core for `target`: greedy over the domain's own (static) importances. */
export function domainCore(numLayers: number, t: ImportanceTable, table: LatencyTable, target: number): Promise<GreedyResult> {
  return greedySkipCore({
    numLayers,
    latency: table,
    targetSpeedup: target,
    importance: (_core, remaining) => remaining.map((s) => staticImportance(t, s)),
  });
}

/** The `k` least important heads of an importance table (ties: lower layer, then head). */
export function leastImportantHeads(t: ImportanceTable, k: number): [number, number][] {
  const all: [number, number, number][] = [];
  t.heads.forEach((row, l) => row.forEach((v, h) => all.push([l, h, v])));
  all.sort((a, b) => a[2] - b[2] || a[0] - b[0] || a[1] - b[1]);
  return all.slice(0, k).map(([l, h]) => [l, h]);
}

/** Latency table of a calibration, for when no live profile is loaded. */
export function calibrationTable(cal: CalibrationResult): LatencyTable | null {
  return cal.latencyBudget?.table ?? null;
}
