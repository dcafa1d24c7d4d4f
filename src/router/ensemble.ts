/**
 * The calibrated sub-network ensemble (`router/ensemble.json`): skip plans chosen offline, from
 * calibration records where every plan of a catalog answered every question greedily, as the plans
 * best on average (router/ensemble-build.ts writes it). The `ensemble` policy gives candidate i the
 * i-th plan. The file names the weights it was measured on: on other weights it is stale and the
 * policy says so, as calibration.json does.
 *
 * {"version": 1, "numLayers": 16, "numHeads": 8, "weights": "a9b6…", "chosenBy": "…",
 *  "plans": [{"id": "full", "accuracy": 0.64, "plan": {}}, {"id": "a2+m4", "accuracy": 0.63, "plan": {"skip_attention": [2], "skip_mlp": [4]}}]}
 */
import { existsSync } from 'node:fs';
import { z } from 'zod';
import type { ModelInfo } from '../model/model-info.ts';
import { parsePlan, PlanError, type SkipPlan } from '../plans/plan.ts';
import { modelFingerprint } from './model-fingerprint.ts';
import { readJsonFile } from '../util/json-file.ts';

export interface EnsemblePlan {
  /** The catalog entry's id the plan came from. */
  id: string;
  /** Share of the calibration questions the plan answered right on its own (greedy). */
  accuracy: number;
  plan: SkipPlan;
}

export interface Ensemble {
  /** Fingerprint of the weights the calibration ran on (router/model-fingerprint.ts). */
  weights: string;
  /** How the plans were chosen (free text, kept for whoever reads the file). */
  chosenBy: string;
  /** Best first: a request of n candidates takes the first n. */
  plans: EnsemblePlan[];
}

const wirePlan = z.record(z.string(), z.unknown());
export const EnsembleFileSchema = z
  .object({
    version: z.literal(1),
    numLayers: z.number().int().min(1),
    numHeads: z.number().int().min(1),
    weights: z.string().min(1),
    chosenBy: z.string(),
    source: z.record(z.string(), z.unknown()).optional(),
    plans: z.array(z.object({ id: z.string().min(1), accuracy: z.number().min(0).max(1), plan: wirePlan }).strict()).min(1),
  })
  .strict();
export type EnsembleFile = z.infer<typeof EnsembleFileSchema>;

/** The file, or why the policy cannot use it (missing, malformed, another shape, other weights). */
export function readEnsemble(path: string, info: ModelInfo): { ensemble: Ensemble | null; missing: string | null } {
  if (!existsSync(path)) return { ensemble: null, missing: `${path} not found (run: npx skipserve router ensemble --records FILE --catalog FILE)` };
  const f = readJsonFile(path, EnsembleFileSchema);
  if (f.numLayers !== info.numLayers || f.numHeads !== info.numHeads) {
    return { ensemble: null, missing: `${path} is for ${f.numLayers} layers x ${f.numHeads} heads, the model has ${info.numLayers} x ${info.numHeads}` };
  }
  if (existsSync(info.dir)) {
    const actual = modelFingerprint(info.dir);
    if (f.weights !== actual) return { ensemble: null, missing: `${path} was measured on weights ${f.weights}, the model's are ${actual} (recalibrate, then run: npx skipserve router ensemble)` };
  }
  const plans = f.plans.map((p, i) => {
    try {
      return { id: p.id, accuracy: p.accuracy, plan: parsePlan(p.plan, info) };
    } catch (err) {
      if (err instanceof PlanError) throw new Error(`${path}: plans.${i}.plan.${err.field}: ${err.message}`);
      throw err;
    }
  });
  return { ensemble: { weights: f.weights, chosenBy: f.chosenBy, plans }, missing: null };
}
