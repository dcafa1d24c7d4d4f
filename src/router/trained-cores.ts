/**
 * Skip cores a model was trained to run cheaply (`skip_cores.json` in the model directory): the
 * trainer drops exactly these cores in a share of its batches (models/train/train.py
 * --fixed-cores), so the model learns a fast path through them, as slimmable and Matryoshka-style
 * models ship their sub-networks. `latency-budget` (and `learned` fast mode) take the smallest
 * declared core that reaches the target on this machine's latency profile; only when none does
 * do they fall back to the calibrated search (calibrated-cores.ts).
 *
 * {"version": 1, "cores": [{"name": "fast", "skip_attention": [3, 4, 8], "skip_mlp": [3, 5]}, ...]}
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { readJsonFile } from '../util/json-file.ts';
import { predictedSpeedup, type GreedyResult, type LatencyTable, type Sublayer } from './skip-core-search.ts';

/** The file's name in a model directory. */
export const TRAINED_CORES_FILE = 'skip_cores.json';

export interface TrainedCore {
  name: string;
  core: Sublayer[];
}

const layers = z.array(z.number().int().min(0)).default([]);
const schema = z.object({
  version: z.literal(1),
  cores: z
    .array(z.object({ name: z.string().min(1).max(64), skip_attention: layers, skip_mlp: layers }).strict())
    .min(1),
  note: z.string().optional(),
});

/**
 * The model's trained cores (empty when it declares none). A malformed file, a layer out of range or
 * an empty core throws, naming the file and the field.
 */
export function readTrainedCores(modelDir: string, numLayers: number): TrainedCore[] {
  const path = join(modelDir, TRAINED_CORES_FILE);
  if (!existsSync(path)) return [];
  return readJsonFile(path, schema).cores.map((c, i) => {
    const bad = [...c.skip_attention, ...c.skip_mlp].find((l) => l >= numLayers);
    if (bad !== undefined) throw new Error(`${path}: cores.${i}: layer ${bad} out of range (the model has ${numLayers} layers)`);
    if (!c.skip_attention.length && !c.skip_mlp.length) throw new Error(`${path}: cores.${i}: skips nothing`);
    const core: Sublayer[] = [
      ...[...new Set(c.skip_attention)].sort((a, b) => a - b).map((layer) => ({ kind: 'attention' as const, layer })),
      ...[...new Set(c.skip_mlp)].sort((a, b) => a - b).map((layer) => ({ kind: 'mlp' as const, layer })),
    ];
    return { name: c.name, core };
  });
}

/**
 * The smallest trained core (by predicted speedup on `table`) that reaches `target`, as a search
 * result; null when none reaches it.
 */
export function trainedCoreFor(cores: readonly TrainedCore[], table: LatencyTable, target: number): (GreedyResult & { name: string }) | null {
  let best: (GreedyResult & { name: string }) | null = null;
  for (const c of cores) {
    const speed = predictedSpeedup(table, c.core);
    if (speed < target || (best && speed >= best.predictedSpeedup)) continue;
    best = { name: c.name, core: [...c.core], picks: [], predictedSpeedup: speed, reached: true };
  }
  return best;
}
