/**
 * A copy of the default model with its router files (calibration, catalog, latency profiles and
 * the selector) in a folder of the test's own, for CLI tests that write into the model's router/.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export const DEFAULT_MODEL = 'models/default';

/** Copies the default model into `dir/name` and returns that path. */
export function copyDefaultModel(dir: string, name = 'model'): string {
  const model = join(dir, name);
  mkdirSync(join(model, 'router'), { recursive: true });
  for (const f of ['config.json', 'generation_config.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json', 'selector.onnx']) {
    copyFileSync(join(DEFAULT_MODEL, f), join(model, f));
  }
  for (const f of ['calibration.json', 'catalog.json', 'ensemble.json', 'profiles.json']) copyFileSync(join(DEFAULT_MODEL, 'router', f), join(model, 'router', f));
  return model;
}
