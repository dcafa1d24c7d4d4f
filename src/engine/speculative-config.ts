/**
 * `--speculative-config` (vLLM's flag, its JSON shape): `off`, `auto` (the model directory's
 * `speculative.json` when it has one, else off) or the JSON itself:
 * `{"method": "skip", "draft": <skip plan>, "num_speculative_tokens": k, "disable_by_batch_size": B}`.
 * The draft is a skip plan in the API's wire form (`skip_layers`, `skip_attention`, `skip_mlp`; no
 * head masks); `k` from 1 to 16; `B` (optional, as vLLM's): a request that would decode beside more
 * than B candidate rows does not speculate (its cycles cost more compute per token than they save
 * once the batch is large enough for the steps to be compute-bound).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import type { ModelInfo } from '../model/model-info.ts';
import { parsePlan } from '../plans/plan.ts';
import type { SpeculativeConfig } from '../model/runner-types.ts';

const SpeculativeJson = z
  .object({
    method: z.literal('skip'),
    draft: z.object({ skip_layers: z.array(z.number()).optional(), skip_attention: z.array(z.number()).optional(), skip_mlp: z.array(z.number()).optional() }).strict(),
    num_speculative_tokens: z.number().int().min(1).max(16),
    disable_by_batch_size: z.number().int().min(1).optional(),
  })
  .passthrough();

/** The model directory's own draft (written where it was measured), when it has one. */
export const SPECULATIVE_FILE = 'speculative.json';

/** Resolves the flag's value for a model; null when speculative decoding is off. Errors name the flag. */
export function resolveSpeculative(value: string, modelDir: string, info: Pick<ModelInfo, 'numLayers' | 'numHeads'>): SpeculativeConfig | null {
  const v = value.trim();
  if (v === 'off') return null;
  let text = v;
  let from = '--speculative-config';
  if (v === 'auto') {
    const file = join(modelDir, SPECULATIVE_FILE);
    if (!existsSync(file)) return null;
    text = readFileSync(file, 'utf8');
    from = file;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ConfigError(`${from}: expected off, auto or JSON such as {"method": "skip", "draft": {"skip_layers": [4, 5]}, "num_speculative_tokens": 5}`, 'speculative-config');
  }
  const parsed = SpeculativeJson.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`${from}: ${issue.path.join('.') || '(root)'}: ${issue.message}`, 'speculative-config');
  }
  let draft;
  try {
    draft = parsePlan(parsed.data.draft, info);
  } catch (err) {
    throw new ConfigError(`${from}: draft: ${(err as Error).message}`, 'speculative-config');
  }
  if (draft.skipAttention.length === 0 && draft.skipMlp.length === 0) throw new ConfigError(`${from}: draft skips nothing; it would cost as much as the full model`, 'speculative-config');
  const limit = parsed.data.disable_by_batch_size;
  return { draft, tokens: parsed.data.num_speculative_tokens, ...(limit !== undefined ? { disableByBatchSize: limit } : {}) };
}
