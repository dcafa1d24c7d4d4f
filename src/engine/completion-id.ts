/**
 * The one completion id scheme, for HTTP and gRPC alike: `chatcmpl-<32 hex>` for chat prompts and
 * `cmpl-<32 hex>` for text and token prompts, `resp_<32 hex>` for the Responses API, as OpenAI names them. The id is the response's `id`,
 * the record's key in the store and what feedback refers to.
 */
import { randomUUID } from 'node:crypto';
import type { PromptSpec } from './types.ts';

/** A fresh completion id for a request with this prompt. */
export function newCompletionId(prompt: PromptSpec, api?: 'responses'): string {
  const hex = randomUUID().replace(/-/g, '');
  return api === 'responses' ? `resp_${hex}` : `${prompt.kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${hex}`;
}
