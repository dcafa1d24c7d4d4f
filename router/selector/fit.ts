/**
 * From calibration records to a trained, exported selector: builds the InfoNCE examples (positives
 * = plans that answered the question correctly), holds out a seeded validation share, trains,
 * reports how the chosen plans would have done, exports selector.onnx and checks that
 * onnxruntime's scores equal the TypeScript ones.
 */
import { writeFileSync } from 'node:fs';
import { decodeEmbedding, type PromptRecord } from '../calibrate.ts';
import { fnv1a } from '../../src/util/rng.ts';
import { selectorToOnnx } from './export-onnx.ts';
import { forward, type SelectorParams } from './model.ts';
import { topN } from '../../src/router/selector-session.ts';
import { SelectorSession } from '../../src/router/selector-session.ts';
import { trainSelector, type SelectorExample, type TrainOptions } from './train.ts';
import type { PlanCatalog } from '../../src/router/catalog.ts';

export interface FitOptions extends TrainOptions {
  /** A plan is a positive when its share of correct samples is at least this (default 0.5). */
  positiveThreshold?: number;
  /** Share of records held out for validation (default 0.15), chosen by a hash of id and seed. */
  validationShare?: number;
  /** Candidates per question in the reported figures (default 8). */
  n?: number;
}

export interface FitReport {
  trainQuestions: number;
  validationQuestions: number;
  /** Questions with both positive and negative plans (the ones that teach anything). */
  informativeTrain: number;
  /** Mean correct-sample share of the top-n plans on validation questions, for the selector ... */
  selectorTopN: number;
  /** ... for the n plans that are best on average over the training questions (a static choice) ... */
  staticTopN: number;
  /** ... and for all plans (what a random choice gets on average). */
  allPlans: number;
  /** Largest |onnx - ts| score over the validation embeddings. */
  onnxMaxAbsDiff: number;
  finalLoss: number;
}

function examples(records: PromptRecord[], samples: number, threshold: number): SelectorExample[] {
  return records
    .filter((r) => r.correct !== null)
    .map((r) => ({
      embedding: decodeEmbedding(r.embedding),
      positives: r.correct!.flatMap((c, j) => (c / samples >= threshold ? [j] : [])),
    }));
}

const share = (r: PromptRecord, plans: number[], samples: number): number => plans.reduce((s, j) => s + r.correct![j]! / samples, 0) / plans.length;

/** Trains on the records, writes selector.onnx, and returns the parameters and a report. */
export async function fitSelector(
  records: PromptRecord[],
  catalog: PlanCatalog,
  samplesPerPlan: number,
  selectorPath: string,
  opts: FitOptions,
): Promise<{ params: SelectorParams; report: FitReport }> {
  const usable = records.filter((r) => r.correct !== null);
  const vShare = opts.validationShare ?? 0.15;
  const isVal = (r: PromptRecord): boolean => (fnv1a(`${opts.seed}:${r.id}`) % 1000) / 1000 < vShare;
  const train = usable.filter((r) => !isVal(r));
  const val = usable.filter(isVal);
  const threshold = opts.positiveThreshold ?? 0.5;
  const ex = examples(train, samplesPerPlan, threshold);
  const m = catalog.entries.length;
  let finalLoss = NaN;
  const params = trainSelector(ex, m, {
    ...opts,
    onEpoch: (e, loss) => {
      finalLoss = loss;
      opts.onEpoch?.(e, loss);
    },
  });
  writeFileSync(selectorPath, selectorToOnnx(params));
  const n = Math.min(opts.n ?? 8, m);
  const meanShare = new Array<number>(m).fill(0);
  for (const r of train) r.correct!.forEach((c, j) => (meanShare[j] += c / samplesPerPlan / train.length));
  const staticPlans = topN(meanShare, n);
  const all = Array.from({ length: m }, (_, j) => j);
  let sel = 0;
  let stat = 0;
  let avg = 0;
  let maxDiff = 0;
  const session = await SelectorSession.load(selectorPath, catalog, params.inputDim);
  try {
    const evalSet = val.length ? val : train;
    const onnx = await session.score(evalSet.map((r) => decodeEmbedding(r.embedding)));
    evalSet.forEach((r, i) => {
      const ts = forward(params, decodeEmbedding(r.embedding)).scores;
      for (let j = 0; j < m; j++) maxDiff = Math.max(maxDiff, Math.abs(ts[j]! - onnx[i]![j]!));
      sel += share(r, topN(onnx[i]!, n), samplesPerPlan) / evalSet.length;
      stat += share(r, staticPlans, samplesPerPlan) / evalSet.length;
      avg += share(r, all, samplesPerPlan) / evalSet.length;
    });
  } finally {
    await session.close();
  }
  if (maxDiff > 1e-4) throw new Error(`exported selector disagrees with the trained one (max |diff| ${maxDiff})`);
  return {
    params,
    report: {
      trainQuestions: train.length,
      validationQuestions: val.length,
      informativeTrain: ex.filter((e) => e.positives.length > 0 && e.positives.length < m).length,
      selectorTopN: sel,
      staticTopN: stat,
      allPlans: avg,
      onnxMaxAbsDiff: maxDiff,
      finalLoss,
    },
  };
}
