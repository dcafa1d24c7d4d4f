/**
 * POST /tokenize and POST /detokenize, as vLLM's OpenAI server has them (llama.cpp's server has the
 * same pair): a prompt or chat messages to the token ids a completion request would feed (same
 * chat template, same special tokens by default), and token ids back to text. Clients count
 * tokens against `max_model_len` with them before they send a request. Behind the API key like /v1.
 */
import type { Hono } from 'hono';
import { z } from 'zod';
import { checkServedModel, checkTokenIds } from '../../engine/request-checks.ts';
import { renderPrompt } from '../../engine/render-prompt.ts';
import { InvalidRequestError } from '../../errors.ts';
import type { ApiContext } from '../context.ts';
import { errorResponse } from './errors.ts';
import { readJson } from './generate-route.ts';
import { ChatMessageSchema, parseBody, ReasoningEffort } from './request-schema.ts';
import { chatMessages, chatRendering } from './to-request-spec.ts';

export const TokenizeSchema = z
  .object({
    model: z.string().optional(),
    prompt: z.string().optional(),
    messages: z.array(ChatMessageSchema).min(1).optional(),
    /** Default: true for a prompt, false for messages (the chat template writes them), as a request. */
    add_special_tokens: z.boolean().optional(),
    /** Messages only (default true, as a chat completion renders them; false with continue_final_message). */
    add_generation_prompt: z.boolean().optional(),
    /** Messages only: leave the final assistant message open (default false). */
    continue_final_message: z.boolean().optional(),
    /** Messages only: more variables for the chat template. */
    chat_template_kwargs: z.record(z.string(), z.unknown()).optional(),
    /** Messages only: the template's `reasoning_effort`, as a chat completion passes it. */
    reasoning_effort: ReasoningEffort.optional(),
  })
  .strict();

export const DetokenizeSchema = z.object({ model: z.string().optional(), tokens: z.array(z.number()) }).strict();

/** Fields the chat template reads, refused beside a plain prompt. */
const MESSAGES_ONLY = ['add_generation_prompt', 'continue_final_message', 'reasoning_effort'] as const;

/** Adds /tokenize and /detokenize (behind the API key check). */
export function registerTokenizeRoutes(app: Hono, ctx: ApiContext): void {
  app.post('/tokenize', async (c) => {
    try {
      const b = parseBody(TokenizeSchema, await readJson(c));
      checkServedModel(ctx.model.info, b.model);
      if ((b.prompt === undefined) === (b.messages === undefined)) throw new InvalidRequestError('give exactly one of prompt and messages', b.prompt === undefined ? 'prompt' : 'messages');
      if (b.prompt !== undefined) {
        for (const field of MESSAGES_ONLY) if (b[field] !== undefined) throw new InvalidRequestError(`${field} applies to messages only`, field);
      }
      const model = ctx.model;
      const prompt = b.messages
        ? { kind: 'chat' as const, messages: chatMessages(b.messages), ...chatRendering(b) }
        : { kind: 'text' as const, text: b.prompt! };
      const { tokens } = renderPrompt(model, prompt, { addSpecialTokens: b.add_special_tokens });
      return c.json({ count: tokens.length, max_model_len: model.info.maxPositions, tokens });
    } catch (err) {
      return errorResponse(c, err);
    }
  });

  app.post('/detokenize', async (c) => {
    try {
      const b = parseBody(DetokenizeSchema, await readJson(c));
      const { info, tokenizer } = ctx.model;
      checkServedModel(info, b.model);
      checkTokenIds(b.tokens, info.vocabSize, 'tokens');
      return c.json({ prompt: tokenizer.decode(b.tokens) });
    } catch (err) {
      return errorResponse(c, err);
    }
  });
}
