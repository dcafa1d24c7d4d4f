/**
 * Measured speedup of a set of candidate plans: decode-step time of the full model over the
 * same batch shape divided by the plans' decode-step time, timed back to back and repeated.
 * Measured, never estimated.
 */
import type { ModelRunner } from '../src/model/runner-types.ts';
import { skipCore } from '../src/plans/plan.ts';
import { quantile } from '../src/plans/latency-profile.ts';
import { FULL_PLAN, type SkipPlan } from '../src/plans/plan.ts';

async function stepTimes(runner: ModelRunner, plans: SkipPlan[], context: number, steps: number, salt: number): Promise<number[]> {
  const vocab = runner.info.vocabSize;
  const root = await runner.createSeq();
  let seqs: number[] = [];
  try {
    const prompt = Array.from({ length: context }, (_, i) => (i * 7919 + salt * 131 + 3) % vocab);
    await runner.step([{ seq: root, tokens: prompt, plan: skipCore(plans), logits: 'last' }]);
    seqs = await runner.forkSeq(root, plans.length);
    const times: number[] = [];
    for (let s = 0; s < steps + 2; s++) {
      const out = await runner.step(seqs.map((seq, i) => ({ seq, tokens: [(s * 31 + i * 17 + 5) % vocab], plan: plans[i]!, logits: 'last' as const })));
      if (s >= 2) times.push(out.runMs);
    }
    return times;
  } finally {
    await runner.freeSeq(root);
    for (const s of seqs) await runner.freeSeq(s);
  }
}

/**
 * Dense / plan decode-step time at batch = plans.length. Each side's time is the fastest over
 * `repeats` back-to-back runs of its low-quantile step time (other work on a shared machine only
 * ever adds time).
 */
export async function measureSpeedup(
  runner: ModelRunner,
  plans: SkipPlan[],
  opts: { context?: number; steps?: number; repeats?: number } = {},
): Promise<{ speedup: number; denseMs: number; planMs: number }> {
  const context = Math.min(opts.context ?? 96, runner.info.maxPositions - (opts.steps ?? 12) - 4);
  const steps = opts.steps ?? 12;
  const repeats = opts.repeats ?? 3;
  const dense = plans.map(() => FULL_PLAN);
  const d: number[] = [];
  const p: number[] = [];
  for (let r = 0; r < repeats; r++) {
    // Alternate which goes first so slow drift does not favour either.
    const first = r % 2 === 0;
    const a = quantile(await stepTimes(runner, first ? dense : plans, context, steps, r), 0.25);
    const b = quantile(await stepTimes(runner, first ? plans : dense, context, steps, r), 0.25);
    d.push(first ? a : b);
    p.push(first ? b : a);
  }
  const denseMs = Math.min(...d);
  const planMs = Math.min(...p);
  return { speedup: denseMs / planMs, denseMs, planMs };
}
