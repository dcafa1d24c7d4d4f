/**
 * The one completion id scheme, for HTTP and gRPC alike: `chatcmpl-<32 hex>` for chat prompts and
 * `cmpl-<32 hex>` for text and token prompts, as OpenAI names them. The id is the response's `id`,
 * the record's key in the store and what feedback refers to.
 */
import { randomUUID } from 'node:crypto';
import type { PromptSpec } from './types.ts';

/** A fresh completion id for a request with this prompt. */
export function newCompletionId(prompt: PromptSpec): string {
  return `${prompt.kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID().replace(/-/g, '')}`;
}
