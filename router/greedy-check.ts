/**
 * Which plans would decode the full model's greedy answer token for token: one teacher-forced pass
 * per plan over that answer instead of a decode. Greedy calibration labels only need decoding for
 * the plans that leave the full model's path (on the hard tier about one in ten); a plan whose
 * argmax follows every token of the full model's answer (and ends where it ends) answers exactly as
 * the full model does.
 *
 * The pass keeps the engine's semantics: the prompt is prefilled once on the full model (as every
 * request of a calibration is, its plans sharing an empty skip core), the first token comes from
 * that prefill, and each plan runs from the first generated token on. A position where the plan's
 * two best logits lie within `tieMargin` counts as leaving the path, so that a float difference
 * between a one-token decode and a many-token pass cannot change a label: such plans are decoded.
 */
import type { LocalEngine } from '../src/engine/local-engine.ts';
import type { FinishReason } from '../src/engine/types.ts';
import { FULL_PLAN, type SkipPlan } from '../src/plans/plan.ts';

/** The full model's greedy answer, as the engine returned it (end-of-sequence not in `tokenIds`). */
export interface GreedyPath {
  tokenIds: readonly number[];
  finishReason: FinishReason;
}

/** Logit gap under which the best token is a near tie (the plan is decoded rather than trusted). */
export const TIE_MARGIN = 1e-3;

/** Per plan: true when its greedy decode is certain to give `path` exactly. */
export async function followsGreedyPath(
  local: LocalEngine,
  promptIds: readonly number[],
  path: GreedyPath,
  plans: readonly SkipPlan[],
  opts: { maxRows?: number; tieMargin?: number } = {},
): Promise<boolean[]> {
  const y = path.tokenIds;
  // No generated token, or the first one only: it comes from the shared prefill, the same for all.
  if (y.length === 0 || (y.length === 1 && path.finishReason === 'length')) return plans.map(() => true);
  const runner = local.runner;
  const vocab = runner.info.vocabSize;
  const eos = new Set(local.info.eosTokenIds);
  const margin = opts.tieMargin ?? TIE_MARGIN;
  const maxRows = Math.max(1, opts.maxRows ?? local.limits.maxBatch);
  // Position i's logits predict y[i + 1]; the last one must end the answer unless it hit the length limit.
  const checked = path.finishReason === 'length' ? y.length - 1 : y.length;
  const follows = (logits: Float32Array): boolean => {
    for (let pos = 0; pos < checked; pos++) {
      const o = pos * vocab;
      let best = 0;
      let second = -Infinity;
      for (let v = 1; v < vocab; v++) {
        const x = logits[o + v]!;
        if (x > logits[o + best]!) {
          second = logits[o + best]!;
          best = v;
        } else if (x > second) second = x;
      }
      if (logits[o + best]! - second < margin) return false;
      if (pos + 1 < y.length ? best !== y[pos + 1] : !eos.has(best)) return false;
    }
    return true;
  };
  return local.engine.exclusive(async () => {
    const out: boolean[] = [];
    const root = await runner.createSeq();
    try {
      await runner.step([{ seq: root, tokens: [...promptIds], plan: FULL_PLAN, logits: 'last' }]);
      for (let c = 0; c < plans.length; c += maxRows) {
        const chunk = plans.slice(c, c + maxRows);
        const seqs = await runner.forkSeq(root, chunk.length);
        try {
          const res = await runner.step(chunk.map((plan, i) => ({ seq: seqs[i]!, tokens: [...y], plan, logits: 'all' as const })));
          for (const logits of res.logits) out.push(follows(logits));
        } finally {
          for (const s of seqs) await runner.freeSeq(s);
        }
      }
    } finally {
      await runner.freeSeq(root);
    }
    return out;
  });
}
