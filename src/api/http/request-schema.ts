/**
 * The OpenAI request bodies, checked at the edge with zod for shape and types only (unknown fields
 * are refused by name); what the values mean (ranges, the context budget, the policy) is checked
 * once, in engine/prepare-request.ts. Errors name the field in wire form (e.g. `messages[0].content`).
 */
import { z } from 'zod';
import { SELECT_MODES } from '../../engine/vote.ts';
import { InvalidRequestError } from '../../errors.ts';
import { REASONING_EFFORTS } from '../reasoning-effort.ts';

export const SkipSchema = z
  .object({
    policy: z.string().optional(),
    plan: z.unknown().optional(),
    plans: z.array(z.unknown()).optional(),
    k: z.number().optional(),
    target_speedup: z.number().optional(),
    domain: z.string().optional(),
    core_fraction: z.number().optional(),
    select: z.enum(SELECT_MODES).optional(),
    answer_pattern: z.string().optional(),
    reference_answer: z.union([z.string(), z.number()]).optional(),
  })
  .strict();

/** OpenAI's stream_options.include_obfuscation: this server adds no `obfuscation` padding to stream events, so only false (or nothing). */
export const NoObfuscation = z.literal(false, { error: 'this server pads no stream events with obfuscation: send false or leave it out' }).optional();

/** Fields shared by chat and completions. */
const common = {
  model: z.string().optional(),
  n: z.number().optional(),
  /** OpenAI's best_of: generate this many candidates, return the n best (by skip.select). Not with stream unless equal to n. */
  best_of: z.number().nullish(),
  max_tokens: z.number().nullish(),
  max_completion_tokens: z.number().nullish(),
  temperature: z.number().nullish(),
  top_p: z.number().nullish(),
  top_k: z.number().nullish(),
  seed: z.number().nullish(),
  stop: z.union([z.string(), z.array(z.string())]).nullish(),
  stream: z.boolean().nullish(),
  /**
   * include_usage: a last chunk with the usage; continuous_usage_stats (vLLM): every chunk with the
   * usage so far; include_obfuscation (OpenAI's): false only, this server pads no events.
   */
  stream_options: z.object({ include_usage: z.boolean().optional(), continuous_usage_stats: z.boolean().optional(), include_obfuscation: NoObfuscation }).strict().nullish(),
  ignore_eos: z.boolean().optional(),
  /** Extension as in vLLM: beam search (best_of, else n, beams; the best n returned) and its length penalty. */
  use_beam_search: z.boolean().nullish(),
  length_penalty: z.number().nullish(),
  user: z.string().optional(),
  /** OpenAI's tags: up to 16 string pairs, recorded with the request (limits checked in prepareRequest). */
  metadata: z.record(z.string(), z.string()).nullish(),
  /** Extension (vLLM, llama.cpp): min-p sampling. */
  min_p: z.number().nullish(),
  presence_penalty: z.number().nullish(),
  frequency_penalty: z.number().nullish(),
  logit_bias: z.record(z.string(), z.number()).nullish(),
  /** Extensions as in vLLM: repetition penalty, extra stop tokens, a minimum length, stop strings kept in the text. */
  repetition_penalty: z.number().nullish(),
  allowed_token_ids: z.array(z.number()).nullish(),
  bad_words: z.array(z.string()).nullish(),
  stop_token_ids: z.array(z.number()).nullish(),
  min_tokens: z.number().nullish(),
  include_stop_str_in_output: z.boolean().nullish(),
  /** Extension as in vLLM: false keeps special tokens' text (e.g. `<|im_end|>`) in the output (default true). */
  skip_special_tokens: z.boolean().nullish(),
  /** Extension as in vLLM: each prompt token's log-probability with this many alternatives (not streamed). */
  prompt_logprobs: z.number().nullish(),
  /** Extension as in vLLM: admission priority, lower first. */
  priority: z.number().nullish(),
  /** Extension as in vLLM: keep only the prompt's last this many tokens. */
  truncate_prompt_tokens: z.number().nullish(),
  skip: SkipSchema.optional(),
  /** OpenAI's structured outputs: text (no guide), any JSON object, or JSON of a schema (guided decoding). */
  response_format: z
    .discriminatedUnion('type', [
      z.object({ type: z.literal('text') }).strict(),
      z.object({ type: z.literal('json_object') }).strict(),
      z
        .object({
          type: z.literal('json_schema'),
          json_schema: z.object({ name: z.string().optional(), description: z.string().optional(), schema: z.record(z.string(), z.unknown()).optional(), strict: z.boolean().nullish() }).strict(),
        })
        .strict(),
    ])
    .nullish(),
  /** Extensions as in vLLM: guided decoding by a regular expression, a list of choices, or a JSON Schema. */
  guided_regex: z.string().nullish(),
  guided_choice: z.array(z.string()).nullish(),
  guided_json: z.union([z.string(), z.record(z.string(), z.unknown())]).nullish(),
  /** A GBNF grammar, as vLLM's guided_grammar and llama.cpp's grammar take it. */
  guided_grammar: z.string().nullish(),
  grammar: z.string().nullish(),
  /** The same guides as newer vLLM names them (one object instead of the guided_* fields). */
  structured_outputs: z
    .object({
      json: z.union([z.string(), z.record(z.string(), z.unknown())]).nullish(),
      regex: z.string().nullish(),
      choice: z.array(z.string()).nullish(),
      grammar: z.string().nullish(),
      json_object: z.boolean().nullish(),
    })
    .strict()
    .nullish(),
};

const ContentPart = z.object({ type: z.literal('text'), text: z.string() }).strict();

/** A tool call an assistant message made earlier in the conversation (OpenAI's shape). */
const ToolCallSchema = z.object({ id: z.string(), type: z.literal('function'), function: z.object({ name: z.string(), arguments: z.string() }).strict() }).strict();

/** One chat message (text content, or text parts joined); assistant turns may carry tool calls, tool turns answer one. */
export const ChatMessageSchema = z
  .object({
    role: z.enum(['system', 'user', 'assistant', 'developer', 'tool']),
    content: z.union([z.string(), z.array(ContentPart), z.null()], {
      error: "must be a string or an array of text parts ({\"type\": \"text\", \"text\": ...}); this server takes no images, audio or files",
    }),
    name: z.string().optional(),
    tool_calls: z.array(ToolCallSchema).optional(),
    tool_call_id: z.string().optional(),
  })
  .strict();

/** OpenAI's reasoning effort values (chat `reasoning_effort`, Responses `reasoning.effort`). */
export const ReasoningEffort = z.enum(REASONING_EFFORTS);

/** A function the model may be made to call (OpenAI's `tools` entry). */
const ToolSchema = z
  .object({
    type: z.literal('function'),
    function: z.object({ name: z.string(), description: z.string().optional(), parameters: z.record(z.string(), z.unknown()).optional(), strict: z.boolean().nullish() }).strict(),
  })
  .strict();

export const ChatRequestSchema = z
  .object({
    ...common,
    messages: z.array(ChatMessageSchema).min(1),
    tools: z.array(ToolSchema).nullish(),
    tool_choice: z.union([z.enum(['none', 'auto', 'required']), z.object({ type: z.literal('function'), function: z.object({ name: z.string() }).strict() }).strict()]).nullish(),
    parallel_tool_calls: z.boolean().nullish(),
    /** Extensions as in vLLM: open an assistant turn after the messages (default true), or continue the final assistant message. */
    add_generation_prompt: z.boolean().nullish(),
    continue_final_message: z.boolean().nullish(),
    /** Extension as in vLLM: more variables for the chat template (e.g. enable_thinking). */
    chat_template_kwargs: z.record(z.string(), z.unknown()).nullish(),
    logprobs: z.boolean().nullish(),
    top_logprobs: z.number().nullish(),
    /** OpenAI's: false keeps the request out of the request store (recorded by default, as on the Responses API). */
    store: z.boolean().nullish(),
    /** OpenAI's: this server has one tier. */
    service_tier: z.enum(['auto', 'default'], { error: "this server has one tier: 'auto' or 'default'" }).nullish(),
    /** OpenAI's output modalities: text only. */
    modalities: z.array(z.literal('text', { error: "only 'text': this server generates no audio" })).nullish(),
    /** OpenAI's (reasoning models): the chat template's `reasoning_effort` variable, as vLLM passes it. */
    reasoning_effort: ReasoningEffort.nullish(),
    /** OpenAI's: accepted; the prefix cache keys on the prompt's tokens, whoever sends them. */
    prompt_cache_key: z.string().nullish(),
    /** OpenAI's successor of `user`: accepted. */
    safety_identifier: z.string().nullish(),
  })
  .strict();

export const CompletionRequestSchema = z
  .object({
    ...common,
    /** A string, token ids, or a batch of either (each prompt its own request; choices ordered by prompt, then candidate). */
    prompt: z.union([z.string(), z.array(z.string()).min(1), z.array(z.number()).min(1), z.array(z.array(z.number()).min(1)).min(1)]),
    logprobs: z.number().nullish(),
    /** Return the prompt before each completion; with logprobs, the prompt's own too (max_tokens may be 0). Not with stream. */
    echo: z.boolean().optional(),
  })
  .strict();

export type ChatRequestBody = z.infer<typeof ChatRequestSchema>;
export type CompletionRequestBody = z.infer<typeof CompletionRequestSchema>;
export type SkipBody = z.infer<typeof SkipSchema>;

/** Formats a zod path as a wire field name: `messages[0].content`. */
function fieldName(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '');
}

/** Parses `body` with `schema`, throwing an InvalidRequestError that names the first bad field. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new InvalidRequestError('the request body must be a JSON object', null);
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const key = fieldName([...issue.path, issue.keys[0]!]);
    throw new InvalidRequestError(`unknown or unsupported field '${key}'`, key, 'unsupported_parameter');
  }
  const param = fieldName(issue.path);
  throw new InvalidRequestError(`${param || 'body'}: ${issue.message}`, param || null);
}
