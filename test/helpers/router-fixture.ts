/**
 * Synthetic router resources for policy tests: a calibration with known importances and domains,
 * a catalog, a random selector exported to ONNX, and a latency profile. No model run needed.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCatalog, saveCatalog } from '../../router/catalog-build.ts';
import { routerPaths, writeJsonAtomic, type CalibrationResult, type ImportanceTable } from '../../src/router/calibration.ts';
import { Rng } from '../../src/util/rng.ts';
import { selectorToOnnx } from '../../router/selector/export-onnx.ts';
import { initSelector } from '../../router/selector/model.ts';
import type { ModelInfo } from '../../src/model/model-info.ts';
import type { LatencyProfile } from '../../src/plans/latency-profile.ts';

export const L = 4;
export const H = 4;
export const HIDDEN = 16;

export const info: ModelInfo = {
  id: 'fixture', dir: '/nonexistent', architecture: 'LlamaForCausalLM', numLayers: L, numHeads: H, numKvHeads: 2, headDim: 4,
  hiddenSize: HIDDEN, intermediateSize: 32, vocabSize: 272, maxPositions: 256, eosTokenIds: [1],
};

function table(seed: number): ImportanceTable {
  const rng = new Rng(seed);
  return {
    heads: Array.from({ length: L }, (_, l) => Array.from({ length: H }, () => (l === 0 ? 5 : 0.1 + rng.next()))),
    attention: Array.from({ length: L }, (_, l) => (l === 0 ? 9 : 0.2 + rng.next())),
    mlp: Array.from({ length: L }, (_, l) => (l === 0 ? 9 : 0.2 + rng.next())),
  };
}

/** A centroid pointing along one axis, so inference is unambiguous. */
export function axis(i: number, scale = 1): number[] {
  return Array.from({ length: HIDDEN }, (_, k) => (k === i ? scale : 0));
}

export function calibration(): CalibrationResult {
  const imp = table(1);
  imp.heads[2]![3] = 0.001; // the least important head
  imp.heads[3]![1] = 0.002;
  return {
    version: 1, modelId: 'fixture', numLayers: L, numHeads: H, hiddenSize: HIDDEN, seed: 0, prompts: 10, samplesPerPlan: 1,
    temperature: 0.7, maxTokens: 32, createdAt: '2026-01-01T00:00:00Z', seconds: { prompts: 1, greedy: 1 },
    importance: imp,
    domains: {
      'add-sub': { ...table(2), prompts: 5, centroid: axis(0) },
      'mul-div': { ...table(3), prompts: 5, centroid: axis(1) },
    },
    fullAccuracy: 0.8,
    plans: [],
    latencyBudget: {
      batch: 8, context: 128, prompts: 4,
      table: { denseMs: 10, attentionMs: [1, 1, 1, 1], mlpMs: [1.5, 1.5, 1.5, 1.5] },
      steps: [{ core: [], importance: { 'attention.1': 0.5, 'mlp.1': 0.9, 'attention.2': 0.4, 'mlp.2': 0.8, 'attention.3': 0.3, 'mlp.3': 0.7, 'attention.0': 9, 'mlp.0': 9 } },
        // after skipping attention.3, mlp.3 becomes nearly free (re-scored)
        { core: ['attention.3'], importance: { 'attention.1': 0.5, 'mlp.1': 0.9, 'attention.2': 0.6, 'mlp.2': 0.8, 'mlp.3': 0.01, 'attention.0': 9, 'mlp.0': 9 } }],
      picks: [],
    },
  };
}

export function profile(): LatencyProfile {
  const shape = (batch: number, scale: number) => ({ batch, context: 128, denseMs: 10 * scale, switchedMs: 10 * scale, baseMs: 1 * scale, attentionMs: [1, 1, 1, 1].map((x) => x * scale), mlpMs: [1.5, 1.5, 1.5, 1.5].map((x) => x * scale) });
  return { version: 2 as const, modelKey: 'm', machineKey: 'k', machine: 'test', measuredAt: '', numLayers: L, measureSeconds: 0, shapes: [shape(1, 1), shape(8, 3)] };
}

/** A model directory with calibration.json, catalog.json and selector.onnx. */
export function routerDir(withSelector = true): string {
  const dir = mkdtempSync(join(tmpdir(), 'router-fixture-'));
  const p = routerPaths(dir);
  writeJsonAtomic(p.calibration, calibration());
  const cat = buildCatalog(L, H, { seed: 1 });
  saveCatalog(p.catalog, cat);
  if (withSelector) {
    const sel = initSelector({ inputDim: HIDDEN, hiddenDim: 8, embedDim: 6, numPlans: cat.entries.length }, 7);
    writeFileSync(p.selector, selectorToOnnx(sel));
  }
  return dir;
}
