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

/**
 * Measures the dense decode step time for each batch size and context. The cells are measured
 * round-robin (one step of every cell per round, median over the rounds), so a burst of load on a
 * shared machine hits every cell alike instead of skewing one of them.
 */
export async function measureDenseProfile(
  runner: ModelRunner,
  batches: number[],
  opts: { contexts?: number[]; rounds?: number } = {},
): Promise<DenseProfile> {
  const rounds = opts.rounds ?? 9;
  const maxCtx = runner.info.maxPositions - rounds - 4;
  const contexts = [...new Set((opts.contexts ?? [16, 128]).map((c) => Math.max(1, Math.min(c, maxCtx))))].sort((a, b) => a - b);
  const bs = [...new Set(batches)].sort((a, b) => a - b);
  const vocab = runner.info.vocabSize;
  const cells: { ctx: number; b: number; seqs: number[]; times: number[] }[] = [];
  for (const ctx of contexts) for (const b of bs) cells.push({ ctx, b, seqs: [], times: [] });
  try {
    for (const cell of cells) {
      for (let i = 0; i < cell.b; i++) cell.seqs.push(await runner.createSeq());
      const prompt = (i: number) => Array.from({ length: cell.ctx }, (_, t) => (t * 7 + i * 13 + 3) % vocab);
      await runner.step(cell.seqs.map((seq, i) => ({ seq, tokens: prompt(i), plan: FULL_PLAN, logits: 'last' as const })));
    }
    for (let r = 0; r <= rounds; r++) {
      for (const cell of cells) {
        const out = await runner.step(cell.seqs.map((seq, i) => ({ seq, tokens: [(r * 5 + i) % vocab], plan: FULL_PLAN, logits: 'last' as const })));
        if (r > 0) cell.times.push(out.runMs); // round 0 warms up
      }
    }
  } finally {
    for (const cell of cells) for (const seq of cell.seqs) await runner.freeSeq(seq);
  }
  const ms = contexts.map((ctx) => bs.map((b) => median(cells.find((c) => c.ctx === ctx && c.b === b)!.times)));
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

/**
 * The live dense baseline: the startup profile gives the shape (how step time grows with batch
 * and context); the decode steps the engine runs with nothing skipped keep rescaling it, so the
 * baseline follows the machine's current load instead of the load at startup. There is one scale
 * per profiled batch size (a step updates and uses the nearest one): an exponential moving average
 * (about the last 20 dense steps of that size) of measured / profiled step time. Without dense
 * traffic a scale stays 1: the startup profile alone.
 */
export class DenseBaseline {
  private readonly scales: number[];
  private readonly samples: number[];

  constructor(
    readonly profile: DenseProfile,
    private readonly alpha = 0.1,
  ) {
    this.scales = profile.batches.map(() => 1);
    this.samples = profile.batches.map(() => 0);
  }

  private nearest(batch: number): number {
    let best = 0;
    this.profile.batches.forEach((b, i) => {
      if (Math.abs(b - batch) < Math.abs(this.profile.batches[best]! - batch)) best = i;
    });
    return best;
  }

  /** Dense step time (ms) expected now for `batch` rows at mean context `context`. */
  expectedMs(batch: number, context: number): number {
    return denseStepMs(this.profile, batch, context) * this.scales[this.nearest(batch)]!;
  }

  /** Feeds one measured decode step that skipped nothing. */
  observeDense(batch: number, context: number, runMs: number): void {
    const i = this.nearest(batch);
    const ratio = Math.min(10, Math.max(0.1, runMs / denseStepMs(this.profile, batch, context)));
    this.samples[i]!++;
    // A plain mean over the first steps moves the scale quickly; then a moving average.
    const a = Math.max(this.alpha, 1 / (this.samples[i]! + 1));
    this.scales[i] = (1 - a) * this.scales[i]! + a * ratio;
  }

  /** Current measured / profiled scale for a batch size (1 = as at startup). */
  scaleFor(batch: number): number {
    return this.scales[this.nearest(batch)]!;
  }
}
