/**
 * Content hashes that name model and selector versions: equal bytes give equal versions, whatever
 * the folder is called or when it was copied. Also says which files of a directory make up each
 * kind of version, so what is hashed is exactly what is stored and loaded.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';

/** The files of a checkpoint that decide what it computes: config, weights, tokenizer, the skip cores it was trained for. */
const MODEL_FILE =
  /^(config\.json|generation_config\.json|skip_cores\.json|tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|tokenizer\.model|vocab\.json|merges\.txt|added_tokens\.json|model\.safetensors|model\.safetensors\.index\.json|model-\d+-of-\d+\.safetensors)$/;

/**
 * The files of a selector version, relative to its directory (the layout of a model directory):
 * the ONNX selector, its plan catalog, the router calibration, the calibrated ensemble and the
 * latency profiles it ships, and what it was trained on (calibration records, an APT round's plan pairs), so the next APT round
 * continues from the promoted selector's data on any replica. Each is optional.
 */
export const SELECTOR_FILES = [
  'router/apt-pairs.jsonl',
  'router/calibration-records.jsonl',
  'router/calibration.json',
  'router/catalog.json',
  'router/ensemble.json',
  'router/profiles.json',
  'selector.onnx',
] as const;

async function hashInto(hash: ReturnType<typeof createHash>, path: string): Promise<void> {
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
}

/** The checkpoint files of a model directory (relative names, sorted). */
export function modelFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => MODEL_FILE.test(n))
    .sort();
}

/** The selector files present in a directory (relative paths, sorted); empty when it has none. */
export function selectorFiles(dir: string): string[] {
  return SELECTOR_FILES.filter((p) => existsSync(join(dir, p)));
}

/** sha256 over the given files of `dir`, in the order given: for each, its path, its size and its bytes. */
export async function hashFiles(dir: string, paths: readonly string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const name of paths) {
    const path = join(dir, name);
    hash.update(`${name}\0${(await stat(path)).size}\0`);
    await hashInto(hash, path);
  }
  return `sha256:${hash.digest('hex')}`;
}

/**
 * sha256 over the model directory's checkpoint files in sorted name order: for each, its name, its
 * size and its bytes. Other files (model card, selector, router data) do not count. Returns
 * `sha256:<hex>`; rejects when config.json or the weights are missing.
 */
export async function hashModelDir(dir: string): Promise<string> {
  const names = modelFiles(dir);
  if (!names.includes('config.json')) throw new Error(`${dir}: no config.json, not a model directory`);
  if (!names.some((n) => n.endsWith('.safetensors'))) throw new Error(`${dir}: no model.safetensors (or shards)`);
  return hashFiles(dir, names);
}

/**
 * sha256 over a selector version's files (SELECTOR_FILES present in `dir`, same scheme as a model
 * directory); rejects when there is no selector.onnx.
 */
export async function hashSelectorDir(dir: string): Promise<string> {
  if (!existsSync(join(dir, 'selector.onnx'))) throw new Error(`${dir}: no selector.onnx, not a selector directory`);
  return hashFiles(dir, selectorFiles(dir));
}

/** sha256 of one file's bytes, as `sha256:<hex>`; the file's name does not count. */
export async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  await hashInto(hash, path);
  return `sha256:${hash.digest('hex')}`;
}
