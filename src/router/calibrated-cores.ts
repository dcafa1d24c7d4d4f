/**
 * Skip cores from calibration data at serving time: the latency-budget core and a domain's core
 * (greedy over that domain's importances). Both run on the live latency table when there is one.
 * The latency-budget core ranks sublayers by the accuracy their skip alone lost at calibration
 * (the catalog's single-skip plans, answered on every calibration question) where calibration
 * measured it; otherwise by the teacher-forced importances re-measured after each pick.
 */
import { entryId } from './catalog.ts';
import type { CalibrationResult, ImportanceTable } from './calibration.ts';
import { greedySkipCore, sublayerKey, type GreedyResult, type LatencyTable, type Sublayer } from './skip-core-search.ts';

/** A sublayer's importance in a table (Infinity when the table has none). */
export function staticImportance(t: ImportanceTable, s: Sublayer): number {
  return (s.kind === 'attention' ? t.attention[s.layer] : t.mlp[s.layer]) ?? Infinity;
}

/**
 * Accuracy lost (fraction of questions, floored at ACCURACY_LOSS_FLOOR) by skipping each sublayer
 * alone, from the calibration's single-skip plans; null unless the catalog has such a plan for
 * every sublayer but the first layer's. A sublayer without one gets Infinity (never picked).
 */
export function sublayerAccuracyLoss(cal: CalibrationResult): ((s: Sublayer) => number) | null {
  const full = cal.fullAccuracy;
  if (full === null || full === undefined) return null;
  const acc = new Map(cal.plans.filter((p) => p.accuracy !== null).map((p) => [p.id, p.accuracy!]));
  const id = (s: Sublayer) => (s.kind === 'attention' ? entryId([s.layer], [], []) : entryId([], [s.layer], []));
  for (let l = 1; l < cal.numLayers; l++) {
    for (const kind of ['attention', 'mlp'] as const) if (!acc.has(id({ kind, layer: l }))) return null;
  }
  return (s) => {
    const a = acc.get(id(s));
    return a === undefined ? Infinity : Math.max(full - a, 0) + ACCURACY_LOSS_FLOOR;
  };
}

/**
 * Added to every measured accuracy loss: sublayers whose skip cost nothing measurable are then
 * ranked by the milliseconds they save (0.1 point, below what 1,000 questions resolve).
 */
export const ACCURACY_LOSS_FLOOR = 0.001;

/**
 * The latency-budget core for `target` on `table`. With single-skip accuracies in the calibration
 * (sublayerAccuracyLoss): the least accuracy lost per millisecond saved. Without: where the current
 * core matches a step of the calibrated path, the teacher-forced importances re-measured there;
 * past the path, the static ones.
 */
export function latencyBudgetCore(cal: CalibrationResult, table: LatencyTable, target: number): Promise<GreedyResult> {
  let memo = coreMemo.get(cal);
  if (!memo) coreMemo.set(cal, (memo = new Map()));
  const key = JSON.stringify([target, table.denseMs, table.switchedMs ?? null, table.attentionMs, table.mlpMs]);
  let result = memo.get(key);
  if (!result) {
    if (memo.size >= CORE_MEMO_SIZE) memo.delete(memo.keys().next().value!);
    result = searchLatencyBudgetCore(cal, table, target);
    memo.set(key, result);
    const failed = result;
    failed.catch(() => memo!.get(key) === failed && memo!.delete(key)); // a failed search is not remembered
  }
  return result;
}

/**
 * Cores already chosen, per calibration, by target and latency figures: a request asks for the
 * same few (target, batch bucket) pairs again and again, and the search with its accuracy map is
 * the same every time. Oldest first out past CORE_MEMO_SIZE keys. Callers must not mutate results.
 */
const coreMemo = new WeakMap<CalibrationResult, Map<string, Promise<GreedyResult>>>();
const CORE_MEMO_SIZE = 64;

function searchLatencyBudgetCore(cal: CalibrationResult, table: LatencyTable, target: number): Promise<GreedyResult> {
  const loss = sublayerAccuracyLoss(cal);
  if (loss) return greedySkipCore({ numLayers: cal.numLayers, latency: table, targetSpeedup: target, importance: (_core, remaining) => remaining.map(loss) });
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
