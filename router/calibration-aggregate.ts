/**
 * Turns per-prompt calibration records into calibration.json: mean importances (overall and per
 * domain), domain centroids, plan utilities; and measures the latency-budget greedy path, where
 * after every pick the remaining sublayers are re-scored with the model on top of the core.
 */
import type { ModelInfo } from '../src/model/model-info.ts';
import type { LocalEngine } from '../src/engine/local-engine.ts';
import type { PlanCatalog } from '../src/router/catalog.ts';
import { decodeEmbedding, type CalibrateConfig, type PromptRecord } from './calibrate.ts';
import type { CalibrationResult, DomainProfile, ImportanceTable, LatencyBudgetPath, PlanUtility } from '../src/router/calibration.ts';
import { promptIds, referenceIds, type RouterPrompt } from './problems.ts';
import { coreToPlan, greedySkipCore, sublayerKey, type LatencyTable, type Sublayer } from '../src/router/skip-core-search.ts';
import { teacherForcedScores } from './teacher-forced.ts';

function meanImportance(records: PromptRecord[], L: number, H: number): ImportanceTable | null {
  const tf = records.map((r) => r.tf).filter((t) => t !== null);
  if (tf.length === 0) return null;
  const n = tf.length;
  return {
    heads: Array.from({ length: L }, (_, l) => Array.from({ length: H }, (_, h) => tf.reduce((s, t) => s + t.heads[l]![h]!, 0) / n)),
    attention: Array.from({ length: L }, (_, l) => tf.reduce((s, t) => s + t.attention[l]!, 0) / n),
    mlp: Array.from({ length: L }, (_, l) => tf.reduce((s, t) => s + t.mlp[l]!, 0) / n),
  };
}

function centroid(records: PromptRecord[], dim: number): number[] {
  const c = new Array<number>(dim).fill(0);
  for (const r of records) {
    const e = decodeEmbedding(r.embedding);
    for (let i = 0; i < dim; i++) c[i] += e[i]! / records.length;
  }
  return c;
}

/**
 * Questions that teach the selector anything: some catalog plan answered right (share of correct
 * samples >= threshold) and some wrong. Questions without a reference answer do not count.
 */
export function informativeCount(records: readonly PromptRecord[], samplesPerPlan: number, threshold = 0.5): number {
  return records.filter((r) => {
    if (!r.correct) return false;
    const good = r.correct.filter((c) => c / samplesPerPlan >= threshold).length;
    return good > 0 && good < r.correct.length;
  }).length;
}

/** Aggregates the records (latencyBudget is filled in separately). */
export function aggregateRecords(
  records: PromptRecord[],
  catalog: PlanCatalog,
  cfg: CalibrateConfig,
  info: ModelInfo,
  promptSeconds: number,
): CalibrationResult {
  const L = info.numLayers;
  const H = info.numHeads;
  const importance = meanImportance(records, L, H);
  if (!importance) throw new Error('no calibration prompt had a reference solution, so no importance could be measured');
  const domains: Record<string, DomainProfile> = {};
  const kinds = [...new Set(records.map((r) => r.kind).filter((k): k is string => !!k))].sort();
  for (const kind of kinds) {
    const rs = records.filter((r) => r.kind === kind);
    const imp = meanImportance(rs, L, H) ?? importance;
    domains[kind] = { ...imp, prompts: rs.length, centroid: centroid(rs, info.hiddenSize) };
  }
  const withAnswers = records.filter((r) => r.correct !== null);
  const withTf = records.filter((r) => r.tf !== null);
  const plans: PlanUtility[] = catalog.entries.map((e, j) => ({
    id: e.id,
    accuracy: withAnswers.length ? withAnswers.reduce((s, r) => s + r.correct![j]!, 0) / (withAnswers.length * cfg.samplesPerPlan) : null,
    meanLogprob: withTf.length ? withTf.reduce((s, r) => s + r.tf!.planLogprob[j]!, 0) / withTf.length : null,
  }));
  const fullAccuracy = withAnswers.length && cfg.fullSamples ? withAnswers.reduce((s, r) => s + r.fullCorrect!, 0) / (withAnswers.length * cfg.fullSamples) : null;
  return {
    version: 1,
    modelId: info.id,
    numLayers: L,
    numHeads: H,
    hiddenSize: info.hiddenSize,
    seed: cfg.seed,
    prompts: records.length,
    samplesPerPlan: cfg.samplesPerPlan,
    temperature: cfg.temperature,
    maxTokens: cfg.maxTokens,
    createdAt: new Date().toISOString(),
    seconds: { prompts: promptSeconds, greedy: 0 },
    importance,
    domains,
    fullAccuracy,
    labels: cfg.temperature > 0 ? 'paired-samples' : 'greedy',
    informative: informativeCount(records, cfg.samplesPerPlan),
    plans,
    latencyBudget: null,
  };
}

/**
 * The latency-budget greedy path up to `maxSpeedup` on `table`: before each pick, every remaining
 * sublayer is scored by the mean teacher-forced KL (full || core + sublayer) over `prompts`.
 */
export async function measureLatencyBudgetPath(
  local: LocalEngine,
  prompts: RouterPrompt[],
  table: LatencyTable,
  shape: { batch: number; context: number },
  maxSpeedup: number,
  onRound?: (core: string[]) => void,
): Promise<LatencyBudgetPath> {
  const items = prompts
    .map((p) => ({ ids: promptIds(local, p), ref: referenceIds(local.tokenizer, p, local.info.eosTokenIds[0]) }))
    .filter((x): x is { ids: number[]; ref: number[] } => x.ref !== null);
  if (items.length === 0) throw new Error('the latency-budget path needs prompts with reference solutions');
  const steps: LatencyBudgetPath['steps'] = [];
  const result = await greedySkipCore({
    numLayers: local.info.numLayers,
    latency: table,
    targetSpeedup: maxSpeedup,
    importance: async (core: Sublayer[], remaining: Sublayer[]) => {
      onRound?.(core.map(sublayerKey));
      const sums = new Array<number>(remaining.length).fill(0);
      for (const it of items) {
        const plans = remaining.map((s) => coreToPlan([...core, s]));
        const r = await local.engine.exclusive(() => teacherForcedScores(local.runner, [...it.ids, ...it.ref], it.ids.length, plans, { maxRows: local.limits.maxBatch }));
        r.plans.forEach((sc, i) => (sums[i] += sc.kl / items.length));
      }
      steps.push({ core: core.map(sublayerKey), importance: Object.fromEntries(remaining.map((s, i) => [sublayerKey(s), sums[i]!])) });
      return sums;
    },
  });
  return { batch: shape.batch, context: shape.context, table, steps, picks: result.picks, prompts: items.length };
}
