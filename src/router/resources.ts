/**
 * What the router policies read at startup from a model directory: calibration.json, the plan
 * catalog, the ONNX selector, and the latency profile. Each piece may be missing; the policies
 * that need it then report themselves unavailable with the reason.
 */
import { existsSync } from 'node:fs';
import type { ModelInfo } from '../model/model-info.ts';
import { coreTable, profileShape, type LatencyProfile } from '../plans/latency-profile.ts';
import { loadCatalog, type PlanCatalog } from './catalog.ts';
import { readCalibration, routerPaths, type CalibrationResult } from './calibration.ts';
import { modelFingerprint } from './model-fingerprint.ts';
import { SelectorSession } from './selector-session.ts';
import type { LatencyTable } from './skip-core-search.ts';
import { calibrationTable } from './calibrated-cores.ts';
import { readTrainedCores, type TrainedCore } from './trained-cores.ts';
import { readEnsemble, type Ensemble } from './ensemble.ts';

export interface RouterResources {
  info: ModelInfo;
  calibration: CalibrationResult | null;
  /** Why calibration is missing (null when loaded). */
  calibrationMissing: string | null;
  catalog: PlanCatalog | null;
  selector: SelectorSession | null;
  /** Why the selector is not usable (null when loaded). */
  selectorMissing: string | null;
  /** Live latency profile of this machine, when measured or cached. */
  profile: LatencyProfile | null;
  /** Speedup latency-budget aims for when a request gives none. */
  defaultTargetSpeedup: number;
  /** expert-profile may take a live core losing at most this much more importance than its own (router/shared-core.ts; 0: never). */
  coreShareTolerance: number;
  /** The runtime builds core graphs, so a steady core pays no switch (latency-profile.ts coreTable). */
  coreGraphs: boolean;
  /** Skip cores the model was trained to run cheaply (trained-cores.ts; empty when it declares none). */
  trainedCores: TrainedCore[];
  /** The calibrated sub-network ensemble (ensemble.ts). */
  ensemble: Ensemble | null;
  /** Why the ensemble is not usable (null when loaded; a malformed file's error too). */
  ensembleMissing: string | null;
}

/** Loads whatever router files exist under `modelDir`; never throws for a missing file. */
export async function loadRouterResources(
  info: ModelInfo,
  modelDir: string,
  opts: { profile?: LatencyProfile | null; defaultTargetSpeedup?: number; coreShareTolerance?: number } = {},
): Promise<RouterResources> {
  const p = routerPaths(modelDir);
  let calibration = readCalibration(p.calibration);
  const stale = calibration ? staleReason(calibration, info, p.calibration) : null;
  if (stale) calibration = null;
  let catalog: PlanCatalog | null = null;
  let selector: SelectorSession | null = null;
  let selectorMissing: string | null = null;
  if (stale) selectorMissing = stale;
  else if (!existsSync(p.selector)) selectorMissing = `${p.selector} not found (run: npx skipserve router calibrate && npx skipserve router train)`;
  else if (!existsSync(p.catalog)) selectorMissing = `${p.catalog} not found`;
  else {
    catalog = loadCatalog(p.catalog);
    if (catalog.numLayers !== info.numLayers || catalog.numHeads !== info.numHeads) {
      selectorMissing = `${p.catalog} is for ${catalog.numLayers} layers x ${catalog.numHeads} heads, the model has ${info.numLayers} x ${info.numHeads}`;
    } else {
      selector = await SelectorSession.load(p.selector, catalog, info.hiddenSize);
    }
  }
  if (calibration && (calibration.numLayers !== info.numLayers || calibration.numHeads !== info.numHeads)) {
    throw new Error(`${p.calibration} is for ${calibration.numLayers} layers x ${calibration.numHeads} heads, the model has ${info.numLayers} x ${info.numHeads}; recalibrate`);
  }
  let ens: ReturnType<typeof readEnsemble>;
  try {
    ens = readEnsemble(p.ensemble, info);
  } catch (err) {
    ens = { ensemble: null, missing: (err as Error).message };
  }
  return {
    info,
    calibration,
    calibrationMissing: stale ?? (calibration ? null : `${p.calibration} not found (run: npx skipserve router calibrate)`),
    catalog,
    selector,
    selectorMissing,
    profile: opts.profile ?? null,
    defaultTargetSpeedup: opts.defaultTargetSpeedup ?? 1.25,
    coreShareTolerance: opts.coreShareTolerance ?? 0.25,
    coreGraphs: false,
    trainedCores: existsSync(info.dir) ? readTrainedCores(info.dir, info.numLayers) : [],
    ensemble: ens.ensemble,
    ensembleMissing: ens.missing,
  };
}

/**
 * Why router files measured on other weights must not steer this model (a retrained checkpoint of
 * the same shape): calibration.json names the weights' fingerprint, and the selector was trained
 * on that calibration, so both go. Null when they match, or when the file predates the field.
 */
function staleReason(c: CalibrationResult, info: ModelInfo, path: string): string | null {
  if (!c.weights || !existsSync(info.dir)) return null;
  const actual = modelFingerprint(info.dir);
  if (c.weights === actual) return null;
  return `${path} was measured on weights ${c.weights}, the model's are ${actual} (run: npx skipserve router calibrate && npx skipserve router train)`;
}

/** Context length every skip core is chosen at (a profiled one), whatever the prompt's length. */
export const CORE_CONTEXT = 128;

/**
 * The latency table skip cores are chosen on for a request of `n` candidates: the live profile's
 * shape at the profiled batch size nearest to n (the batch-size bucket) and a fixed context, its
 * sublayer times scaled as the core check found (core-check.ts; `scale` overrides), else the table
 * calibration used. It does not depend on the prompt, so concurrent requests with the
 * same target get the same core and their rows decode in one step.
 */
export function latencyTableFor(r: RouterResources, n: number, scale?: number): LatencyTable | null {
  if (r.profile) {
    const shape = profileShape(r.profile, n, CORE_CONTEXT);
    return coreTable(shape, r.coreGraphs, scale ?? coreScale(r.profile, shape.batch));
  }
  return r.calibration ? calibrationTable(r.calibration) : null;
}

/** The core check's scale of the sublayer times at a profiled batch size (1 when unchecked). */
export function coreScale(profile: LatencyProfile, batch: number): number {
  return profile.coreChecks?.find((c) => c.batch === batch)?.scale ?? 1;
}
