/**
 * The calibration result of a model (router/calibration.json under the model directory): per head
 * and per sublayer importance (overall and per domain), per catalog plan utility, the domain
 * centroids of question embeddings, and the latency-budget greedy path. Policies read it at startup.
 */
import { existsSync, readFileSync, renameSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { GreedyPick, LatencyTable } from './skip-core-search.ts';

/** Importance of removing each head and sublayer: mean KL(full || ablated) per answer token. */
export interface ImportanceTable {
  /** [layer][head] */
  heads: number[][];
  attention: number[];
  mlp: number[];
}

export interface DomainProfile extends ImportanceTable {
  prompts: number;
  /** Mean question embedding of the domain's prompts (for inferring a request's domain). */
  centroid: number[];
}

export interface PlanUtility {
  id: string;
  /** Fraction of sampled answers that were correct (null when prompts had no reference answer). */
  accuracy: number | null;
  /** Mean log-probability per token of the reference solution under the plan. */
  meanLogprob: number | null;
}

/** The greedy path measured at calibration: the importance table seen before each pick. */
export interface LatencyBudgetPath {
  batch: number;
  context: number;
  /** The latency table the path was chosen on. */
  table: LatencyTable;
  /** Before pick i: the core so far (sublayer keys) and the importance of each remaining sublayer on top of it. */
  steps: { core: string[]; importance: Record<string, number> }[];
  picks: GreedyPick[];
  /** Calibration prompts the re-scoring used. */
  prompts: number;
}

export interface CalibrationResult {
  version: 1;
  modelId: string;
  /** Fingerprint of the weights it was measured on (model-fingerprint.ts); absent in files older than the check. */
  weights?: string;
  /** Set when the file was carried over to a fine-tuned successor (APT): the weights it was measured on. */
  measuredOn?: string;
  numLayers: number;
  numHeads: number;
  hiddenSize: number;
  seed: number;
  prompts: number;
  samplesPerPlan: number;
  temperature: number;
  maxTokens: number;
  createdAt: string;
  /** Wall-clock seconds of the per-prompt pass (summed over resumed runs) and of the greedy pass. */
  seconds: { prompts: number; greedy: number };
  importance: ImportanceTable;
  domains: Record<string, DomainProfile>;
  /** Accuracy of the full model with the same sampling (the plans' baseline). */
  fullAccuracy: number | null;
  /** How plan labels were measured: one greedy answer per plan, or samples with seeds shared by every plan. */
  labels?: 'greedy' | 'paired-samples';
  /** Questions where some plans answered right and some wrong (what the selector learns from). */
  informative?: number;
  plans: PlanUtility[];
  /** Latency-budget greedy path: picks in order, importances re-measured after every pick. */
  latencyBudget: LatencyBudgetPath | null;
}

/** Files of the router under a model directory. */
export function routerPaths(modelDir: string): {
  dir: string;
  calibration: string;
  records: string;
  catalog: string;
  selector: string;
  ensemble: string;
  evalMd: string;
  evalSvg: string;
  evalJson: string;
} {
  const dir = join(modelDir, 'router');
  return {
    dir,
    calibration: join(dir, 'calibration.json'),
    records: join(dir, 'calibration-records.jsonl'),
    catalog: join(dir, 'catalog.json'),
    selector: join(modelDir, 'selector.onnx'),
    ensemble: join(dir, 'ensemble.json'),
    evalMd: join(dir, 'eval.md'),
    evalSvg: join(dir, 'eval.svg'),
    evalJson: join(dir, 'eval.json'),
  };
}

/** Reads calibration.json, or null when absent; a malformed file throws naming the file. */
export function readCalibration(path: string): CalibrationResult | null {
  if (!existsSync(path)) return null;
  let c: CalibrationResult;
  try {
    c = JSON.parse(readFileSync(path, 'utf8')) as CalibrationResult;
  } catch (err) {
    throw new Error(`${path}: not valid JSON: ${(err as Error).message}`);
  }
  if (c.version !== 1 || !c.importance || !Array.isArray(c.importance.heads)) throw new Error(`${path}: not a skipserve calibration file (version 1)`);
  return c;
}

/** Writes a JSON file atomically (temp file + rename). */
export function writeJsonAtomic(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(value, null, 1) + '\n');
  renameSync(tmp, path);
}
