/**
 * The dense-step profile behind the speedup metric: at startup the engine measures, on this
 * machine, the decode step time of the full plan (nothing skipped) at a few batch sizes and two
 * context lengths. A request's speedup is then the profile's time for the batch sizes and contexts
 * of the steps it actually ran, divided by those steps' measured time: measured against measured.
 */
import type { ModelRunner } from '../model/runner-types.ts';
import { FULL_PLAN } from '../plans/plan.ts';

export interface DenseProfile {
  /** Batch sizes measured, ascending. */
  batches: number[];
  /** Context lengths measured, ascending. */
  contexts: number[];
  /** Median decode step ms: ms[contextIndex][batchIndex]. */
  ms: number[][];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Measures the dense decode step time for each batch size and context (a few seconds at most on small models). */
export async function measureDenseProfile(
  runner: ModelRunner,
  batches: number[],
  opts: { contexts?: number[]; steps?: number } = {},
): Promise<DenseProfile> {
  const steps = opts.steps ?? 9;
  const maxCtx = runner.info.maxPositions - steps - 4;
  const contexts = [...new Set((opts.contexts ?? [16, 128]).map((c) => Math.max(1, Math.min(c, maxCtx))))].sort((a, b) => a - b);
  const bs = [...new Set(batches)].sort((a, b) => a - b);
  const vocab = runner.info.vocabSize;
  const ms: number[][] = [];
  for (const ctx of contexts) {
    const row: number[] = [];
    for (const b of bs) {
      const seqs: number[] = [];
      for (let i = 0; i < b; i++) seqs.push(await runner.createSeq());
      try {
        const prompt = (i: number) => Array.from({ length: ctx }, (_, t) => (t * 7 + i * 13 + 3) % vocab);
        await runner.step(seqs.map((seq, i) => ({ seq, tokens: prompt(i), plan: FULL_PLAN, logits: 'last' as const })));
        const times: number[] = [];
        for (let s = 0; s < steps + 1; s++) {
          const out = await runner.step(seqs.map((seq, i) => ({ seq, tokens: [(s * 5 + i) % vocab], plan: FULL_PLAN, logits: 'last' as const })));
          if (s > 0) times.push(out.runMs);
        }
        row.push(median(times));
      } finally {
        for (const seq of seqs) await runner.freeSeq(seq);
      }
    }
    ms.push(row);
  }
  return { batches: bs, contexts, ms };
}

/** Linear interpolation of ys over ascending xs; outside the range it extends the nearest segment. */
function interp(xs: number[], ys: number[], x: number): number {
  if (xs.length === 1) return ys[0]!;
  let i = 0;
  while (i < xs.length - 2 && x > xs[i + 1]!) i++;
  const x0 = xs[i]!;
  const x1 = xs[i + 1]!;
  return ys[i]! + ((ys[i + 1]! - ys[i]!) * (x - x0)) / (x1 - x0);
}

/** Expected dense step time (ms) for a step of `batch` rows at mean context `context`. */
export function denseStepMs(p: DenseProfile, batch: number, context: number): number {
  // The server profiles up to its --max-batch, so batch sizes stay inside the measured range.
  const perCtx = p.ms.map((row) => interp(p.batches, row, batch));
  return Math.max(1e-6, interp(p.contexts, perCtx, context));
}
