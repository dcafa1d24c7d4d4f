/**
 * From calibration records to a trained, exported selector: builds the examples (input = prompt
 * embedding, plus the prompt's text features when the records have them; positives = plans that
 * answered the question correctly), holds out a seeded validation share, trains one member or an
 * ensemble, reports how the chosen plans would have done (their correct share, and with recorded
 * answers the majority vote and pass@N of the chosen N, against the best static N and random N,
 * with 95% intervals), exports selector.onnx and checks that onnxruntime's scores equal the
 * TypeScript ones.
 */
import { writeFileSync } from 'node:fs';
import { decodeEmbedding, type PromptRecord } from '../calibrate.ts';
import { fnv1a, Rng } from '../../src/util/rng.ts';
import { selectorToOnnx } from './export-onnx.ts';
import { ensembleScores, selectorInput, type SelectorParams } from './model.ts';
import { topN } from '../../src/router/selector-session.ts';
import { SelectorSession } from '../../src/router/selector-session.ts';
import { TEXT_FEATURE_COUNT, textFeatures } from '../../src/router/text-features.ts';
import { trainSelector, type SelectorExample, type TrainOptions } from './train.ts';
import type { PlanCatalog } from '../../src/router/catalog.ts';
import { offlineVotes, type OfflineVote } from './offline-vote.ts';

export interface FitOptions extends TrainOptions {
  /** A plan is a positive when its share of correct samples is at least this (default 0.5). */
  positiveThreshold?: number;
  /** Share of records held out for validation (default 0.15), chosen by a hash of id and seed. */
  validationShare?: number;
  /** Candidates per question in the reported correct shares (default 8). */
  n?: number;
  /** N of the offline majority-vote figures (default 4, 8, 16). */
  ns?: number[];
  /** Add the prompt's text features to the input (default: when every record has its prompt). */
  features?: boolean;
  /** Ensemble members, trained with seeds seed, seed + 1, ... (default 1). */
  ensemble?: number;
  /** Questions with preference pairs over the plans tried on them (an APT round), trained beside the records. */
  pairRecords?: PairRecord[];
}

/**
 * A question whose few tried plans are labelled by preference pairs [right, wrong] (plan indices of
 * the catalog), as an APT round measures them on its weakness cases; the rest of the catalog is unknown.
 */
export interface PairRecord {
  id: string;
  /** Base64 float32 embedding of the prompt, as in calibration records. */
  embedding: string;
  prompt: string;
  promptTokens: number;
  pairs: [number, number][];
}

export interface FitReport {
  trainQuestions: number;
  validationQuestions: number;
  /** Questions with both positive and negative plans (the ones that teach anything). */
  informativeTrain: number;
  informativeValidation: number;
  /** Whether the input had the text features, and how many members the ensemble has. */
  features: boolean;
  ensemble: number;
  /** Mean correct-sample share of the top-n plans on validation questions, for the selector ... */
  selectorTopN: number;
  /** ... for the n plans that are best on average over the training questions (a static choice) ... */
  staticTopN: number;
  /** ... and for all plans (what a random choice gets on average). */
  allPlans: number;
  /** With recorded answers: offline majority vote and pass@N on the validation questions, per N. */
  votes: OfflineVote[];
  /** Largest |onnx - ts| score over the validation embeddings. */
  onnxMaxAbsDiff: number;
  finalLoss: number;
}

/** The selector input of a record: its embedding, then its text features when `features`. */
export function recordInput(r: Pick<PromptRecord, 'id' | 'embedding' | 'prompt' | 'promptTokens'>, features: boolean): Float32Array {
  const e = decodeEmbedding(r.embedding);
  if (!features) return e;
  if (r.prompt === undefined || r.promptTokens === undefined) throw new Error(`calibration record ${r.id} has no prompt text: recalibrate to train with text features`);
  return selectorInput(e, textFeatures(r.prompt, r.promptTokens));
}

function examples(records: PromptRecord[], samples: number, threshold: number, features: boolean): SelectorExample[] {
  return records.map((r) => ({
    embedding: recordInput(r, features),
    positives: r.correct!.flatMap((c, j) => (c / samples >= threshold ? [j] : [])),
  }));
}

const share = (r: PromptRecord, plans: number[], samples: number): number => plans.reduce((s, j) => s + r.correct![j]! / samples, 0) / plans.length;
const informative = (ex: SelectorExample[], m: number): number => ex.filter((e) => e.positives.length > 0 && e.positives.length < m).length;

/** Splits the records with answers into training and validation (seeded hash of the id). */
export function splitRecords(records: PromptRecord[], seed: number, vShare: number): { train: PromptRecord[]; val: PromptRecord[] } {
  const usable = records.filter((r) => r.correct !== null);
  const isVal = (r: PromptRecord): boolean => (fnv1a(`${seed}:${r.id}`) % 1000) / 1000 < vShare;
  return { train: usable.filter((r) => !isVal(r)), val: usable.filter(isVal) };
}

/** Trains the selector (one member or an ensemble) on the training records; no export. */
export function trainMembers(train: PromptRecord[], numPlans: number, samplesPerPlan: number, opts: FitOptions): { members: SelectorParams[]; features: boolean; finalLoss: number; informative: number } {
  const features = opts.features ?? train.every((r) => r.prompt !== undefined && r.promptTokens !== undefined);
  const ex = [
    ...examples(train, samplesPerPlan, opts.positiveThreshold ?? 0.5, features),
    ...(opts.pairRecords ?? []).map((r): SelectorExample => ({ embedding: recordInput(r, features), positives: [], pairs: r.pairs })),
  ];
  const members: SelectorParams[] = [];
  let finalLoss = NaN;
  const k = opts.ensemble ?? 1;
  for (let i = 0; i < k; i++) {
    members.push(
      trainSelector(ex, numPlans, {
        ...opts,
        seed: opts.seed + i,
        featureDim: features ? TEXT_FEATURE_COUNT : 0,
        onEpoch: (e, loss) => {
          finalLoss = loss;
          opts.onEpoch?.(e + i * opts.epochs, loss);
        },
      }),
    );
  }
  return { members, features, finalLoss, informative: informative(ex.filter((e) => !e.pairs), numPlans) };
}

/** Validation figures of trained members (TypeScript scores). */
export function evaluateMembers(
  members: SelectorParams[],
  features: boolean,
  train: PromptRecord[],
  val: PromptRecord[],
  catalog: PlanCatalog,
  samplesPerPlan: number,
  opts: Pick<FitOptions, 'n' | 'ns' | 'seed' | 'positiveThreshold'>,
): Pick<FitReport, 'selectorTopN' | 'staticTopN' | 'allPlans' | 'votes' | 'informativeValidation'> {
  return evaluateScores((r) => ensembleScores(members, recordInput(r, features)), train, val, catalog, samplesPerPlan, opts);
}

/** Mean correct share of each plan over `records`. */
export function planShares(records: readonly PromptRecord[], m: number, samplesPerPlan: number): number[] {
  const out = new Array<number>(m).fill(0);
  for (const r of records) r.correct!.forEach((c, j) => (out[j] += c / samplesPerPlan / records.length));
  return out;
}

/** Validation figures of any per-question plan scorer (the selector, or a baseline such as the best plans per problem kind). */
export function evaluateScores(
  score: (r: PromptRecord) => ArrayLike<number>,
  train: PromptRecord[],
  val: PromptRecord[],
  catalog: PlanCatalog,
  samplesPerPlan: number,
  opts: Pick<FitOptions, 'n' | 'ns' | 'seed' | 'positiveThreshold'>,
): Pick<FitReport, 'selectorTopN' | 'staticTopN' | 'allPlans' | 'votes' | 'informativeValidation'> {
  const m = catalog.entries.length;
  const n = Math.min(opts.n ?? 8, m);
  const meanShare = planShares(train, m, samplesPerPlan);
  const all = Array.from({ length: m }, (_, j) => j);
  const evalSet = val.length ? val : train;
  const scores = evalSet.map(score);
  let sel = 0;
  let stat = 0;
  let avg = 0;
  evalSet.forEach((r, i) => {
    sel += share(r, topN(scores[i]!, n), samplesPerPlan) / evalSet.length;
    stat += share(r, topN(meanShare, n), samplesPerPlan) / evalSet.length;
    avg += share(r, all, samplesPerPlan) / evalSet.length;
  });
  const threshold = opts.positiveThreshold ?? 0.5;
  const informativeValidation = evalSet.filter((r) => {
    const good = r.correct!.filter((c) => c / samplesPerPlan >= threshold).length;
    return good > 0 && good < m;
  }).length;
  const votes = evalSet.every((r) => r.answers?.length) ? offlineVotes(evalSet, scores, meanShare, m, opts.ns ?? [4, 8, 16], new Rng(opts.seed + 77)) : [];
  return { selectorTopN: sel, staticTopN: stat, allPlans: avg, votes, informativeValidation };
}

/** Trains on the records, writes selector.onnx, and returns the members and a report. */
export async function fitSelector(
  records: PromptRecord[],
  catalog: PlanCatalog,
  samplesPerPlan: number,
  selectorPath: string,
  opts: FitOptions,
): Promise<{ params: SelectorParams[]; report: FitReport }> {
  const { train, val } = splitRecords(records, opts.seed, opts.validationShare ?? 0.15);
  const m = catalog.entries.length;
  const { members, features, finalLoss, informative: informativeTrain } = trainMembers(train, m, samplesPerPlan, opts);
  writeFileSync(selectorPath, selectorToOnnx(members));
  const figures = evaluateMembers(members, features, train, val, catalog, samplesPerPlan, opts);
  let maxDiff = 0;
  const embDim = members[0]!.inputDim - (features ? TEXT_FEATURE_COUNT : 0);
  const session = await SelectorSession.load(selectorPath, catalog, embDim);
  try {
    const evalSet = val.length ? val : train;
    const inputs = evalSet.map((r) => recordInput(r, features));
    const onnx = await session.score(
      inputs.map((x) => x.slice(0, embDim)),
      features ? inputs.map((x) => x.slice(embDim)) : undefined,
    );
    inputs.forEach((x, i) => {
      const ts = ensembleScores(members, x);
      for (let j = 0; j < m; j++) maxDiff = Math.max(maxDiff, Math.abs(ts[j]! - onnx[i]![j]!));
    });
  } finally {
    await session.close();
  }
  if (maxDiff > 1e-4) throw new Error(`exported selector disagrees with the trained one (max |diff| ${maxDiff})`);
  return {
    params: members,
    report: {
      trainQuestions: train.length,
      validationQuestions: val.length,
      informativeTrain,
      features,
      ensemble: members.length,
      ...figures,
      onnxMaxAbsDiff: maxDiff,
      finalLoss,
    },
  };
}
