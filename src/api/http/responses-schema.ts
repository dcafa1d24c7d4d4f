/**
 * POST /v1/responses request bodies (OpenAI's Responses API, the text subset vLLM serves) and their
 * mapping to a RequestSpec. Text in, text out: message items with text parts, `instructions`,
 * `text.format` (guided decoding), `max_output_tokens`, sampling, `include` of the output's
 * logprobs; skipserve's `skip`, `n` and sampling extensions as on chat. What needs server-side
 * state or tools (`previous_response_id`, `conversation`, `background`, function tools, reasoning)
 * is not in the schema, so it is refused naming the field.
 */
import { z } from 'zod';
import type { RequestSpec } from '../../engine/types.ts';
import type { ChatMessage } from '../../text/chat-template.ts';
import { SkipSchema } from './request-schema.ts';
import { skipSpec } from './to-request-spec.ts';

const Part = z.discriminatedUnion(
  'type',
  [
    z.object({ type: z.literal('input_text'), text: z.string() }).strict(),
    // An earlier response's output, sent back as conversation history.
    z.object({ type: z.literal('output_text'), text: z.string(), annotations: z.array(z.unknown()).optional(), logprobs: z.array(z.unknown()).optional() }).strict(),
  ],
  { error: 'must be a text part (input_text, or output_text from an earlier response); this server takes no images, audio or files' },
);

/** A message item (`type` may be left out, as the easy input form does). */
const MessageItem = z
  .object({
    type: z.literal('message', { error: "must be 'message': this server takes message items only (no function calls or reasoning items)" }).optional(),
    id: z.string().optional(),
    status: z.enum(['in_progress', 'completed', 'incomplete']).optional(),
    role: z.enum(['user', 'assistant', 'system', 'developer']),
    // A string is one text part (so a bad part's error names the part, not a union).
    content: z.preprocess((v) => (typeof v === 'string' ? [{ type: 'input_text', text: v }] : v), z.array(Part)),
  })
  .strict();

const Format = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }).strict(),
  z.object({ type: z.literal('json_object') }).strict(),
  z.object({ type: z.literal('json_schema'), name: z.string(), schema: z.record(z.string(), z.unknown()), description: z.string().optional(), strict: z.boolean().nullish() }).strict(),
]);

export const ResponsesRequestSchema = z
  .object({
    model: z.string().optional(),
    // A string is one user message (so a bad item's error names the item, not a union).
    input: z.preprocess((v) => (typeof v === 'string' ? [{ role: 'user', content: v }] : v), z.array(MessageItem).min(1)),
    instructions: z.string().nullish(),
    max_output_tokens: z.number().nullish(),
    temperature: z.number().nullish(),
    top_p: z.number().nullish(),
    stream: z.boolean().nullish(),
    text: z.object({ format: Format.optional(), verbosity: z.enum(['low', 'medium', 'high']).nullish() }).strict().optional(),
    include: z.array(z.literal('message.output_text.logprobs', { error: "only 'message.output_text.logprobs' can be included" })).nullish(),
    top_logprobs: z.number().nullish(),
    metadata: z.record(z.string(), z.string()).nullish(),
    user: z.string().optional(),
    safety_identifier: z.string().optional(),
    prompt_cache_key: z.string().optional(),
    service_tier: z.enum(['auto', 'default']).nullish(),
    /** Recorded in the request store either way (when the server has one); accepted for compatibility. */
    store: z.boolean().nullish(),
    truncation: z.literal('disabled', { error: "only 'disabled': a prompt past the context is refused" }).nullish(),
    tools: z.array(z.never(), { error: 'function tools are served on /v1/chat/completions' }).max(0).optional(),
    tool_choice: z.literal('none', { error: "only 'none' (function tools are served on /v1/chat/completions)" }).optional(),
    parallel_tool_calls: z.boolean().nullish(),
    // skipserve's and vLLM's extensions, as on chat.
    n: z.number().optional(),
    seed: z.number().nullish(),
    top_k: z.number().nullish(),
    min_p: z.number().nullish(),
    stop: z.union([z.string(), z.array(z.string())]).nullish(),
    repetition_penalty: z.number().nullish(),
    priority: z.number().nullish(),
    skip: SkipSchema.optional(),
  })
  .strict();

export type ResponsesRequestBody = z.infer<typeof ResponsesRequestSchema>;

const opt = <T>(v: T | null | undefined): T | undefined => (v === null ? undefined : v);

/** The body's messages: `instructions` first (as a system message), then the input. */
function messagesOf(b: ResponsesRequestBody): ChatMessage[] {
  const input: ChatMessage[] = b.input.map((m) => ({ role: m.role, content: m.content.map((p) => p.text).join('') }));
  return b.instructions ? [{ role: 'system', content: b.instructions }, ...input] : input;
}

/** The body as a RequestSpec, with the wire names errors about its domain fields take. */
export function responsesSpec(b: ResponsesRequestBody): { spec: RequestSpec; fields: Record<string, string> } {
  const f = b.text?.format;
  const logprobs = (b.include ?? []).includes('message.output_text.logprobs');
  return {
    spec: {
      model: b.model,
      prompt: { kind: 'chat', messages: messagesOf(b) },
      n: b.n,
      maxTokens: opt(b.max_output_tokens),
      temperature: opt(b.temperature),
      topP: opt(b.top_p),
      topK: opt(b.top_k),
      minP: opt(b.min_p),
      repetitionPenalty: opt(b.repetition_penalty),
      priority: opt(b.priority),
      seed: opt(b.seed),
      stop: b.stop == null ? undefined : typeof b.stop === 'string' ? [b.stop] : b.stop,
      logprobs,
      ...(logprobs || b.top_logprobs != null ? { topLogprobs: opt(b.top_logprobs) } : {}),
      metadata: opt(b.metadata),
      ...(f?.type === 'json_schema' ? { guidedJson: f.schema } : f?.type === 'json_object' ? { jsonObject: true } : {}),
      skip: skipSpec(b.skip),
    },
    fields: { maxTokens: 'max_output_tokens', messages: 'input', prompt: 'input', guidedJson: 'text.format.schema', jsonObject: 'text.format', topLogprobs: 'top_logprobs', logprobs: 'include' },
  };
}
