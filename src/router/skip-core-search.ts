/**
 * Latency-aware greedy choice of a shared skip core (the sublayer-pruning idea): repeatedly skip
 * the sublayer with the least importance lost per millisecond saved, re-scoring the remaining
 * sublayers after each pick, until the predicted speedup reaches the target.
 */
import type { SkipPlan } from '../plans/plan.ts';

/** An attention or MLP sublayer of one layer. */
export interface Sublayer {
  kind: 'attention' | 'mlp';
  layer: number;
}

/** Per-sublayer decode-step latency on one batch shape (milliseconds). */
export interface LatencyTable {
  /** The full-model step (the dense path). */
  denseMs: number;
  /** The full plan through the switched graph, which a core's step runs (default denseMs). */
  switchedMs?: number;
  attentionMs: number[];
  mlpMs: number[];
}

/** Short key of a sublayer, e.g. "attention.3". */
export function sublayerKey(s: Sublayer): string {
  return `${s.kind}.${s.layer}`;
}

/** Latency of one sublayer in a table. */
export function sublayerLatency(t: LatencyTable, s: Sublayer): number {
  const v = s.kind === 'attention' ? t.attentionMs[s.layer] : t.mlpMs[s.layer];
  if (v === undefined) throw new Error(`latency table has no ${sublayerKey(s)}`);
  return v;
}

/** Speedup the table predicts for skipping `core`: dense / (switched - saved); 1 for no core (the dense path). */
export function predictedSpeedup(t: LatencyTable, core: Sublayer[]): number {
  if (core.length === 0) return 1;
  let saved = 0;
  for (const s of core) saved += sublayerLatency(t, s);
  const rest = (t.switchedMs ?? t.denseMs) - saved;
  return rest <= 0 ? Infinity : t.denseMs / rest;
}

/** The skip plan of a core (no masked heads). */
export function coreToPlan(core: Sublayer[]): SkipPlan {
  const a = core.filter((s) => s.kind === 'attention').map((s) => s.layer).sort((x, y) => x - y);
  const m = core.filter((s) => s.kind === 'mlp').map((s) => s.layer).sort((x, y) => x - y);
  return { skipAttention: a, skipMlp: m, maskHeads: {} };
}

/** One greedy pick, with the figures it was chosen on. */
export interface GreedyPick {
  sublayer: Sublayer;
  importance: number;
  latencyMs: number;
  ratio: number;
  speedupAfter: number;
}

export interface GreedyResult {
  core: Sublayer[];
  picks: GreedyPick[];
  predictedSpeedup: number;
  /** False when every allowed sublayer was skipped and the target was still not reached. */
  reached: boolean;
}

export interface GreedyInput {
  numLayers: number;
  latency: LatencyTable;
  targetSpeedup: number;
  /**
   * Importance of skipping each of `remaining` on top of `core`; called again after every pick,
   * so it can re-measure (calibration runs the model here; serving reads stored tables).
   */
  importance: (core: Sublayer[], remaining: Sublayer[]) => number[] | Promise<number[]>;
  /** Sublayers never skipped (e.g. the first layer's). */
  protect?: (s: Sublayer) => boolean;
  /** Stop after this many picks even when the target is not reached. */
  maxPicks?: number;
}

/**
 * Runs the greedy importance/latency selection: each pick is the least importance per millisecond
 * saved, except that a sublayer which reaches the target on its own is taken when it is no more
 * important than that pick (the least important such one). Deterministic (ties go to the earlier
 * sublayer).
 */
export async function greedySkipCore(input: GreedyInput): Promise<GreedyResult> {
  if (!(input.targetSpeedup >= 1)) throw new Error(`targetSpeedup must be >= 1, got ${input.targetSpeedup}`);
  const remaining: Sublayer[] = [];
  for (let l = 0; l < input.numLayers; l++) {
    for (const kind of ['attention', 'mlp'] as const) {
      const s = { kind, layer: l };
      if (!input.protect?.(s)) remaining.push(s);
    }
  }
  const core: Sublayer[] = [];
  const picks: GreedyPick[] = [];
  let speed = 1;
  const maxPicks = input.maxPicks ?? Infinity;
  while (speed < input.targetSpeedup && remaining.length > 0 && picks.length < maxPicks) {
    const scores = await input.importance([...core], [...remaining]);
    if (scores.length !== remaining.length) throw new Error(`importance returned ${scores.length} scores for ${remaining.length} sublayers`);
    let best = -1;
    let bestRatio = Infinity;
    let bestImp = 0;
    for (let i = 0; i < remaining.length; i++) {
      const s = remaining[i]!;
      const lat = Math.max(sublayerLatency(input.latency, s), 1e-6);
      const imp = Math.max(scores[i]!, 0);
      const ratio = imp / lat;
      if (ratio < bestRatio) {
        best = i;
        bestRatio = ratio;
        bestImp = imp;
      }
    }
    if (best < 0) best = 0; // every ratio was NaN/Infinity: take the first
    // Finishing pick: of the sublayers that reach the target on their own from here, the least
    // important, when it costs no more than the ratio pick. The best ratio can overshoot with an
    // expensive sublayer where a cheaper, smaller one would just reach the target.
    let finish = -1;
    let finishImp = Infinity;
    for (let i = 0; i < remaining.length; i++) {
      const imp = Math.max(scores[i]!, 0);
      if (imp < finishImp && predictedSpeedup(input.latency, [...core, remaining[i]!]) >= input.targetSpeedup) {
        finish = i;
        finishImp = imp;
      }
    }
    if (finish >= 0 && finishImp <= bestImp) {
      best = finish;
      bestImp = finishImp;
      bestRatio = finishImp / Math.max(sublayerLatency(input.latency, remaining[finish]!), 1e-6);
    }
    const [s] = remaining.splice(best, 1);
    core.push(s!);
    speed = predictedSpeedup(input.latency, core);
    picks.push({ sublayer: s!, importance: bestImp, latencyMs: sublayerLatency(input.latency, s!), ratio: bestRatio, speedupAfter: speed });
  }
  return { core, picks, predictedSpeedup: speed, reached: speed >= input.targetSpeedup };
}
