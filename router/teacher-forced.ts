/**
 * Teacher-forced scoring of plans on a prompt + reference completion: for every plan, the mean
 * log-probability of the reference tokens and the mean KL(full || plan) of the next-token
 * distributions over the reference positions (the "change of the output distribution when a
 * head or sublayer is removed" that calibration calls importance).
 */
import type { ModelRunner } from '../src/model/runner-types.ts';
import { FULL_PLAN, type SkipPlan } from '../src/plans/plan.ts';

export interface PlanScore {
  /** Mean KL(full || plan) per reference token (nats). */
  kl: number;
  /** Mean log-probability per reference token. */
  logprob: number;
}

function logSoftmaxRows(logits: Float32Array, vocab: number, from: number, to: number): Float64Array {
  const out = new Float64Array((to - from) * vocab);
  for (let p = from; p < to; p++) {
    const off = p * vocab;
    let max = -Infinity;
    for (let v = 0; v < vocab; v++) max = Math.max(max, logits[off + v]!);
    let sum = 0;
    for (let v = 0; v < vocab; v++) sum += Math.exp(logits[off + v]! - max);
    const lse = max + Math.log(sum);
    const o = (p - from) * vocab;
    for (let v = 0; v < vocab; v++) out[o + v] = logits[off + v]! - lse;
  }
  return out;
}

/**
 * Scores `plans` on `ids` (prompt then reference; the reference starts at `promptLen`), relative
 * to `base` (default the full model). One batched prefill per chunk of `maxRows` plans.
 */
export async function teacherForcedScores(
  runner: ModelRunner,
  ids: number[],
  promptLen: number,
  plans: SkipPlan[],
  opts: { maxRows?: number; base?: SkipPlan } = {},
): Promise<{ base: PlanScore; plans: PlanScore[] }> {
  if (promptLen < 1 || promptLen >= ids.length) throw new Error(`reference must follow a non-empty prompt (prompt ${promptLen} of ${ids.length} tokens)`);
  const vocab = runner.info.vocabSize;
  const from = promptLen - 1;
  const to = ids.length - 1;
  const positions = to - from;
  const maxRows = opts.maxRows ?? 32;
  const all = [opts.base ?? FULL_PLAN, ...plans];
  let baseLs: Float64Array | null = null;
  const scores: PlanScore[] = [];
  for (let c = 0; c < all.length; c += maxRows) {
    const chunk = all.slice(c, c + maxRows);
    const seqs: number[] = [];
    try {
      for (let i = 0; i < chunk.length; i++) seqs.push(await runner.createSeq());
      const out = await runner.step(chunk.map((plan, i) => ({ seq: seqs[i]!, tokens: ids, plan, logits: 'all' as const })));
      for (let i = 0; i < chunk.length; i++) {
        const ls = logSoftmaxRows(out.logits[i]!, vocab, from, to);
        if (!baseLs) baseLs = ls;
        let kl = 0;
        let lp = 0;
        for (let p = 0; p < positions; p++) {
          const o = p * vocab;
          lp += ls[o + ids[from + p + 1]!]!;
          for (let v = 0; v < vocab; v++) {
            const b = baseLs[o + v]!;
            kl += Math.exp(b) * (b - ls[o + v]!);
          }
        }
        scores.push({ kl: Math.max(0, kl / positions), logprob: lp / positions });
      }
    } finally {
      for (const s of seqs) await runner.freeSeq(s);
    }
  }
  return { base: scores[0]!, plans: scores.slice(1) };
}
