/**
 * Core check: the latency profile times each sublayer alone, and a core of several sublayers saves
 * less than their sum (1.0 ms predicted, 0.65 ms measured at batch 8 on the 16-layer default), so a
 * latency-budget core chosen on the profile alone reaches less than its target end to end. At
 * startup the default target's core is timed against the dense step at each batch-size bucket
 * (steps awaited from the main thread, so the worker round trip is in both), and the profile's
 * sublayer times are scaled by measured / predicted saving; the core is searched again on the
 * scaled table, and its graph built and timed, up to MAX_ROUNDS cores; the smallest that measured
 * the target is accepted. The scale that chose it is kept with the profile (cached per model and
 * machine like the profile), so every later search with it chooses the same core, and other
 * targets at that batch size are searched on the same scaled table.
 */
import type { ModelRunner } from '../model/runner-types.ts';
import { warmupSampler } from '../engine/warmup.ts';
import { FULL_PLAN, planCore, type SkipPlan } from '../plans/plan.ts';
import { quantile, type CoreCheck } from '../plans/latency-profile.ts';
import { coreToPlan, sublayerKey, type Sublayer } from './skip-core-search.ts';

/** Searches the core for `target` at batch size `batch` with the profile's sublayer times scaled by `scale`. */
export type CoreSearch = (batch: number, target: number, scale: number) => Promise<{ core: Sublayer[]; predictedSpeedup: number; unscaledSpeedup: number }>;

/** Measured dense / core step-time ratio of a core at the batch size being checked. */
export type CoreMeasure = (core: Sublayer[]) => Promise<number>;

/** The measurement on the runtime: the core's graph built, then timed against the dense step (measureCoreRatio). */
export function runtimeMeasure(runner: ModelRunner, batch: number, context: number): CoreMeasure {
  return async (core) => {
    const plan = coreToPlan(core);
    const skipCore = planCore(plan);
    if (skipCore) await runner.prepareCores?.([skipCore]);
    return (await measureCoreRatio(runner, plan, batch, context)).ratio;
  };
}

/** Cores timed per batch bucket at most, and searches (a search may return a core already timed). */
export const MAX_ROUNDS = 4;
const SEARCHES = 8;
/** Alternating dense / core step pairs timed per measurement (after WARM_STEPS of each). */
const PAIRS = 64;
const WARM_STEPS = 3;
/** A scale outside this range means the measurement went wrong (a stall), not the profile. */
const SCALE_RANGE = [0.3, 1.5] as const;

/**
 * Ratio of dense to core decode-step wall time at one shape: one prompt prefilled on the dense
 * path, forked into a dense and a core group of `batch` rows each (a core row never reads the
 * layers it skips, so the dense prompt's KV serves it), stepped alternately with sampling in the
 * runtime as a request's steps; the ratio is the median of the pairs' ratios.
 */
export async function measureCoreRatio(runner: ModelRunner, plan: SkipPlan, batch: number, context: number, pairs = PAIRS): Promise<{ denseMs: number; coreMs: number; ratio: number }> {
  const vocab = runner.info.vocabSize;
  const room = Math.max(1, Math.min(context, runner.info.maxPositions - pairs - WARM_STEPS - 2));
  const prompt = Array.from({ length: room }, (_, i) => (i * 7919 + 13) % vocab);
  const root = await runner.createSeq();
  const seqs: number[] = [];
  try {
    await runner.step([{ seq: root, tokens: prompt, plan: FULL_PLAN, logits: 'none' }]);
    seqs.push(...(await runner.forkSeq(root, 2 * batch)));
    const dense = seqs.slice(0, batch);
    const core = seqs.slice(batch);
    // Rows sample in the runtime and feed their own tokens, as a request's decode steps do.
    const last = new Map<number, number>();
    const dense1: number[] = [];
    const ratios: number[] = [];
    const coreTimes: number[] = [];
    for (let s = 0; s < pairs + WARM_STEPS; s++) {
      // Alternate which group goes first, so drift in the machine's load hits both alike.
      const pair: Record<'dense' | 'core', number> = { dense: 0, core: 0 };
      const order: ['dense' | 'core', number[], SkipPlan][] = [['dense', dense, FULL_PLAN], ['core', core, plan]];
      if (s % 2) order.reverse();
      for (const [name, group, p] of order) {
        const t0 = performance.now();
        const out = await runner.step(group.map((seq, i) => ({ seq, tokens: [last.get(seq) ?? (i * 17 + 5) % vocab], plan: p, logits: 'none' as const, sample: warmupSampler(i) })));
        pair[name] = performance.now() - t0;
        group.forEach((seq, i) => out.sampled?.[i] && last.set(seq, out.sampled[i]!.token));
      }
      if (s < WARM_STEPS) continue;
      dense1.push(pair.dense);
      coreTimes.push(pair.core);
      ratios.push(pair.dense / pair.core);
    }
    // The median of per-pair ratios: a stall hits one pair, and drift hits both halves of a pair alike.
    return { denseMs: quantile(dense1, 0.5), coreMs: quantile(coreTimes, 0.5), ratio: quantile(ratios, 0.5) };
  } finally {
    await runner.freeSeq(root);
    for (const s of seqs) await runner.freeSeq(s);
  }
}

/**
 * Checks the core for `target` at `batch`. A smaller scale makes the search choose a larger, faster
 * core; the check looks for the largest scale whose core measures the target. Each round searches
 * at the current scale and times the core (a core already timed is not timed again), then moves
 * the scale to where the timed core's measured saving says the target lies (measured / predicted
 * saving of the unscaled table), kept inside the bracket of scales already found short and
 * sufficient (else halfway across it). At most MAX_ROUNDS cores are timed and SEARCHES searches run.
 * Returns the check of the core accepted: of the cores that measured the target, the one with the
 * least predicted saving; else the fastest measured.
 */
export async function checkCore(search: CoreSearch, measure: CoreMeasure, batch: number, target: number, context: number): Promise<CoreCheck | null> {
  let scale = 1;
  const timed = new Map<string, CoreCheck & { unscaled: number }>();
  // Largest scale whose core reached the target, smallest whose core fell short.
  let reachedAt: number = SCALE_RANGE[0];
  let shortAt: number = SCALE_RANGE[1];
  for (let round = 0; round < SEARCHES && timed.size < MAX_ROUNDS; round++) {
    const found = await search(batch, target, scale);
    if (found.core.length === 0) break;
    const key = found.core.map(sublayerKey).sort().join(',');
    let check = timed.get(key);
    if (!check) {
      const ratio = await measure(found.core);
      check = {
        batch,
        context,
        target,
        scale,
        core: found.core.map(sublayerKey),
        predicted: Number(found.predictedSpeedup.toFixed(4)),
        measured: Number(ratio.toFixed(4)),
        measuredAt: new Date().toISOString(),
        unscaled: found.unscaledSpeedup,
      };
      timed.set(key, check);
    }
    if (check.measured >= target) reachedAt = Math.max(reachedAt, scale);
    else shortAt = Math.min(shortAt, scale);
    // Saving in the unscaled table's units that would give the measured ratio, over the predicted one.
    const predictedSaving = 1 - 1 / check.unscaled;
    const measuredSaving = 1 - 1 / Math.max(check.measured, 1e-9);
    let next = predictedSaving > 0 ? measuredSaving / predictedSaving : scale;
    if (!(next > reachedAt && next < shortAt)) next = (reachedAt + shortAt) / 2;
    if (shortAt - reachedAt < 0.01 || Math.abs(next - scale) < 0.005) break;
    scale = next;
  }
  if (timed.size === 0) return null;
  const all = [...timed.values()];
  const reached = all.filter((c) => c.measured >= target).sort((a, b) => a.unscaled - b.unscaled);
  const { unscaled: _, ...best } = reached[0] ?? all.reduce((a, b) => (b.measured > a.measured ? b : a));
  return best;
}
