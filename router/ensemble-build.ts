/**
 * Chooses the calibrated sub-network ensemble (src/router/ensemble.ts) from calibration records in
 * which every plan of a catalog answered every question: the `size` plans right most often on
 * their own, best first (the static choice `router train --cross-validate` scores as "the N plans
 * best on average"). Ties go to the earlier catalog entry.
 */
import { topN } from '../src/router/selector-session.ts';
import { entryPlan, type PlanCatalog } from '../src/router/catalog.ts';
import type { EnsembleFile } from '../src/router/ensemble.ts';
import { planToWire } from '../src/plans/plan.ts';
import type { PromptRecord } from './calibrate.ts';
import { planShares } from './selector/fit.ts';

export interface EnsembleSource {
  /** The records' header: the catalog ids in record order, the sampling, the weights. */
  catalogIds: readonly string[];
  samplesPerPlan: number;
  temperature: number;
  weights: string;
  /** Paths (or names) written into the file, for the reader. */
  recordsPath: string;
  catalogPath: string;
}

/** The ensemble file for the `size` plans best on average over the records with a reference answer. */
export function buildEnsemble(records: readonly PromptRecord[], catalog: PlanCatalog, src: EnsembleSource, size: number): EnsembleFile {
  const m = catalog.entries.length;
  const ids = catalog.entries.map((e) => e.id);
  if (src.catalogIds.length !== m || src.catalogIds.some((id, i) => id !== ids[i])) {
    throw new Error(`the records were made on another catalog than ${src.catalogPath} (${src.catalogIds.length} entries against ${m}, or another order)`);
  }
  if (!Number.isInteger(size) || size < 1 || size > m) throw new Error(`--size must be an integer in [1, ${m}] (the catalog's entries), got ${size}`);
  const usable = records.filter((r) => r.correct !== null && r.correct.length === m);
  if (usable.length === 0) throw new Error('no calibration record has a reference answer and every plan scored');
  const shares = planShares(usable, m, src.samplesPerPlan);
  const chosen = topN(shares, size);
  const sampling = src.temperature === 0 ? 'greedy answers' : `${src.samplesPerPlan} samples per plan at temperature ${src.temperature}`;
  return {
    version: 1,
    numLayers: catalog.numLayers,
    numHeads: catalog.numHeads,
    weights: src.weights,
    chosenBy: `the ${size} of ${m} catalog plans right most often on their own over ${usable.length} calibration questions (${sampling})`,
    source: { records: src.recordsPath, catalog: src.catalogPath, questions: usable.length },
    plans: chosen.map((j) => ({ id: ids[j]!, accuracy: Number(shares[j]!.toFixed(4)), plan: planToWire(entryPlan(catalog.entries[j]!)) as Record<string, unknown> })),
  };
}
