/**
 * Content hashes that name model and selector versions: equal bytes give equal versions, whatever
 * the folder is called or when it was copied.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** The files of a checkpoint that decide what it computes: config, weights, tokenizer. */
const MODEL_FILE =
  /^(config\.json|generation_config\.json|tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|tokenizer\.model|vocab\.json|merges\.txt|added_tokens\.json|model\.safetensors|model\.safetensors\.index\.json|model-\d+-of-\d+\.safetensors)$/;

async function hashInto(hash: ReturnType<typeof createHash>, path: string): Promise<void> {
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
}

/**
 * sha256 over the model directory's checkpoint files in sorted name order: for each, its name, its
 * size and its bytes. Other files (model card, selector, router data) do not count. Returns
 * `sha256:<hex>`; rejects when config.json or the weights are missing.
 */
export async function hashModelDir(dir: string): Promise<string> {
  const names = (await readdir(dir)).filter((n) => MODEL_FILE.test(n)).sort();
  if (!names.includes('config.json')) throw new Error(`${dir}: no config.json, not a model directory`);
  if (!names.some((n) => n.endsWith('.safetensors'))) throw new Error(`${dir}: no model.safetensors (or shards)`);
  const hash = createHash('sha256');
  for (const name of names) {
    const path = join(dir, name);
    hash.update(`${name}\0${(await stat(path)).size}\0`);
    await hashInto(hash, path);
  }
  return `sha256:${hash.digest('hex')}`;
}

/** sha256 of one file's bytes (a selector), as `sha256:<hex>`; the file's name does not count. */
export async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  await hashInto(hash, path);
  return `sha256:${hash.digest('hex')}`;
}
