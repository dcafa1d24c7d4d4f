/**
 * POST /v1/embeddings, OpenAI's shape (the `openai` client's `embeddings.create`, which asks for
 * base64 unless told otherwise): texts or token ids in, unit vectors out (src/engine/embeddings.ts).
 */
import type { Hono } from 'hono';
import { z } from 'zod';
import { countedEmbedding, embedInputs, type EmbeddingSpec } from '../../engine/embeddings.ts';
import type { ApiContext } from '../context.ts';
import { errorResponse } from './errors.ts';
import { readJson } from './generate-route.ts';
import { parseBody } from './request-schema.ts';

export const EmbeddingsSchema = z
  .object({
    model: z.string().optional(),
    input: z.union([z.string(), z.array(z.string()).min(1), z.array(z.number()).min(1), z.array(z.array(z.number()).min(1)).min(1)]),
    /** float (JSON numbers) or base64 (the float32 values, little-endian), as OpenAI's. */
    encoding_format: z.enum(['float', 'base64']).optional(),
    dimensions: z.number().optional(),
    user: z.string().optional(),
  })
  .strict();

/** The wire input as domain inputs: one text, texts, one token list, or token lists. */
function inputs(input: z.infer<typeof EmbeddingsSchema>['input']): EmbeddingSpec['input'] {
  if (typeof input === 'string') return [{ kind: 'text', text: input }];
  if (input.every((x) => typeof x === 'number')) return [{ kind: 'tokens', tokens: input as number[] }];
  return (input as (string | number[])[]).map((x) => (typeof x === 'string' ? { kind: 'text', text: x } : { kind: 'tokens', tokens: x }));
}

/** Adds POST /v1/embeddings (behind the API key check with the other /v1 routes). */
export function registerEmbeddingsRoute(app: Hono, ctx: ApiContext): void {
  app.post('/v1/embeddings', async (c) => {
    try {
      const model = ctx.model;
      let base64 = false;
      const r = await countedEmbedding(ctx.metrics, async () => {
        const b = parseBody(EmbeddingsSchema, await readJson(c));
        base64 = b.encoding_format === 'base64';
        return embedInputs(model, { model: b.model, input: inputs(b.input), dimensions: b.dimensions, signal: c.req.raw.signal });
      });
      return c.json({
        object: 'list',
        data: r.vectors.map((v, index) => ({ object: 'embedding', index, embedding: base64 ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : Array.from(v) })),
        model: model.info.id,
        usage: { prompt_tokens: r.promptTokens, total_tokens: r.promptTokens },
      });
    } catch (err) {
      return errorResponse(c, err);
    }
  });
}
