/**
 * POST /v1/responses request bodies (OpenAI's Responses API, the text subset vLLM serves) and their
 * mapping to a RequestSpec. Text in, text out: message items with text parts, `instructions`,
 * `text.format` (guided decoding), `max_output_tokens`, sampling, `include` of the output's
 * logprobs; function tools as on chat (a named function or `required`: guided calls, tool-calls.ts)
 * with function calls and their outputs in the input; skipserve's `skip`, `n` and sampling
 * extensions as on chat; `previous_response_id` continues a stored response (responses-items.ts);
 * `background` runs it on after the answer (background-responses.ts); `reasoning.effort` is the chat
 * template's `reasoning_effort`, as on chat. What needs other server-side state (`conversation`),
 * other tools, reasoning items or reasoning summaries is not in the schema, so it is refused naming
 * the field.
 */
import { z } from 'zod';
import { toolModeOf, type ToolFields, type ToolMode } from '../../engine/tool-calls.ts';
import type { ToolParserName } from '../../engine/tool-parsers.ts';
import type { RequestSpec } from '../../engine/types.ts';
import type { ChatMessage } from '../../text/chat-template.ts';
import { NoObfuscation, ReasoningEffort, SkipSchema } from './request-schema.ts';
import { opt, skipSpec, stopList } from './to-request-spec.ts';
import { withReasoningEffort } from '../reasoning-effort.ts';

const Part = z.discriminatedUnion(
  'type',
  [
    z.object({ type: z.literal('input_text'), text: z.string() }).strict(),
    // An earlier response's output, sent back as conversation history.
    z.object({ type: z.literal('output_text'), text: z.string(), annotations: z.array(z.unknown()).optional(), logprobs: z.array(z.unknown()).optional() }).strict(),
  ],
  { error: 'must be a text part (input_text, or output_text from an earlier response); this server takes no images, audio or files' },
);

/** A message item. */
const MessageItem = z
  .object({
    type: z.literal('message'),
    id: z.string().optional(),
    status: z.enum(['in_progress', 'completed', 'incomplete']).optional(),
    role: z.enum(['user', 'assistant', 'system', 'developer']),
    // A string is one text part (so a bad part's error names the part, not a union).
    content: z.preprocess((v) => (typeof v === 'string' ? [{ type: 'input_text', text: v }] : v), z.array(Part)),
  })
  .strict();

/** A function call of an earlier response, and the caller's output for it. */
const FunctionCallItem = z.object({ type: z.literal('function_call'), id: z.string().optional(), call_id: z.string(), name: z.string(), arguments: z.string(), status: z.enum(['in_progress', 'completed', 'incomplete']).optional() }).strict();
const FunctionCallOutputItem = z.object({ type: z.literal('function_call_output'), id: z.string().optional(), call_id: z.string(), output: z.string(), status: z.enum(['in_progress', 'completed', 'incomplete']).optional() }).strict();

// An item without `type` is a message (the easy input form), so a bad item's error names its field, not a union.
export const InputItem = z.preprocess(
  (v) => (v !== null && typeof v === 'object' && !Array.isArray(v) && !('type' in v) ? { type: 'message', ...v } : v),
  z.discriminatedUnion('type', [MessageItem, FunctionCallItem, FunctionCallOutputItem], { error: 'must be a message, a function_call or a function_call_output (this server takes no reasoning or other tool items)' }),
);

/** A function tool (the Responses API's flat shape). */
const FunctionTool = z.object({ type: z.literal('function', { error: 'only function tools' }), name: z.string(), description: z.string().nullish(), parameters: z.record(z.string(), z.unknown()).nullish(), strict: z.boolean().nullish() }).strict();

const Format = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }).strict(),
  z.object({ type: z.literal('json_object') }).strict(),
  z.object({ type: z.literal('json_schema'), name: z.string(), schema: z.record(z.string(), z.unknown()), description: z.string().optional(), strict: z.boolean().nullish() }).strict(),
]);

export const ResponsesRequestSchema = z
  .object({
    model: z.string().optional(),
    // A string is one user message (so a bad item's error names the item, not a union).
    input: z.preprocess((v) => (typeof v === 'string' ? [{ role: 'user', content: v }] : v), z.array(InputItem).min(1)),
    instructions: z.string().nullish(),
    /** A stored response whose input and output come before this input (instructions and tools are not carried over). */
    previous_response_id: z.string().nullish(),
    max_output_tokens: z.number().nullish(),
    temperature: z.number().nullish(),
    top_p: z.number().nullish(),
    stream: z.boolean().nullish(),
    stream_options: z.object({ include_obfuscation: NoObfuscation }).strict().nullish(),
    /** Run on after the POST is answered (`queued`); GET /v1/responses/{id} follows it. Needs the store. */
    background: z.boolean().nullish(),
    text: z.object({ format: Format.optional(), verbosity: z.enum(['low', 'medium', 'high']).nullish() }).strict().optional(),
    include: z.array(z.literal('message.output_text.logprobs', { error: "only 'message.output_text.logprobs' can be included" })).nullish(),
    top_logprobs: z.number().nullish(),
    metadata: z.record(z.string(), z.string()).nullish(),
    user: z.string().optional(),
    safety_identifier: z.string().optional(),
    /** The effort only (the chat template's `reasoning_effort`); this server writes no reasoning summaries. */
    reasoning: z.object({ effort: ReasoningEffort.nullish(), summary: z.null({ error: 'this server writes no reasoning summaries' }).optional() }).strict().nullish(),
    prompt_cache_key: z.string().optional(),
    service_tier: z.enum(['auto', 'default']).nullish(),
    /** false: no record in the request store (default true, as OpenAI's; records need the server's --store). */
    store: z.boolean().nullish(),
    truncation: z.literal('disabled', { error: "only 'disabled': a prompt past the context is refused" }).nullish(),
    tools: z.array(FunctionTool).nullish(),
    tool_choice: z.union([z.enum(['none', 'auto', 'required']), z.object({ type: z.literal('function'), name: z.string() }).strict()]).nullish(),
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
export type InputItemBody = ResponsesRequestBody['input'][number];

/**
 * The conversation's messages: `instructions` first (as a system message), then the items; function
 * calls in a row become one assistant message's tool calls, a call's output a tool message.
 */
function messagesOf(instructions: string | null | undefined, items: readonly InputItemBody[]): ChatMessage[] {
  const out: ChatMessage[] = instructions ? [{ role: 'system', content: instructions }] : [];
  for (const item of items) {
    if (item.type === 'message') out.push({ role: item.role, content: item.content.map((p) => p.text).join('') });
    else if (item.type === 'function_call_output') out.push({ role: 'tool', content: item.output, tool_call_id: item.call_id });
    else {
      const call = { id: item.call_id, type: 'function' as const, function: { name: item.name, arguments: item.arguments } };
      const last = out.at(-1);
      if (last?.role === 'assistant' && last.tool_calls && !last.content) last.tool_calls.push(call);
      else out.push({ role: 'assistant', content: '', tool_calls: [call] });
    }
  }
  return out;
}

/** The body's tool fields in chat's domain terms; `toolParser` is the server's --tool-call-parser. */
function toolFields(b: ResponsesRequestBody, toolParser: ToolParserName | undefined): ToolFields {
  const c = b.tool_choice;
  return {
    ...(toolParser ? { toolParser } : {}),
    ...(b.tools?.length ? { tools: b.tools.map((t) => ({ type: 'function' as const, function: { name: t.name, ...(t.description ? { description: t.description } : {}), ...(t.parameters ? { parameters: t.parameters } : {}) } })) } : {}),
    ...(c != null ? { toolChoice: typeof c === 'string' ? c : { name: c.name } } : {}),
    ...(b.parallel_tool_calls != null ? { parallelToolCalls: b.parallel_tool_calls } : {}),
  };
}

/** `reasoning.effort` as the chat template's variable (absent when not sent). */
function reasoningKwargs(b: ResponsesRequestBody): { templateKwargs?: Record<string, unknown> } {
  const kwargs = withReasoningEffort(undefined, b.reasoning?.effort, 'reasoning.effort');
  return kwargs ? { templateKwargs: kwargs } : {};
}

/**
 * The body as a RequestSpec, with the wire names errors about its domain fields take; `items` is the
 * conversation (a previous response's items, then the body's input).
 */
export function responsesSpec(b: ResponsesRequestBody, items: readonly InputItemBody[] = b.input, toolParser?: ToolParserName): { spec: RequestSpec; toolMode: ToolMode | null; fields: Record<string, string> } {
  const f = b.text?.format;
  const tools = toolFields(b, toolParser);
  // Logprobs when included, or when top_logprobs asks for alternatives.
  const logprobs = (b.include ?? []).includes('message.output_text.logprobs') || (b.top_logprobs != null && b.top_logprobs !== 0);
  return {
    spec: {
      model: b.model,
      ...tools,
      prompt: { kind: 'chat', messages: messagesOf(b.instructions, items), ...(tools.tools ? { tools: tools.tools } : {}), ...reasoningKwargs(b) },
      n: b.n,
      maxTokens: opt(b.max_output_tokens),
      temperature: opt(b.temperature),
      topP: opt(b.top_p),
      topK: opt(b.top_k),
      minP: opt(b.min_p),
      repetitionPenalty: opt(b.repetition_penalty),
      priority: opt(b.priority),
      seed: opt(b.seed),
      stop: stopList(b.stop),
      logprobs,
      ...(logprobs ? { topLogprobs: opt(b.top_logprobs) } : {}),
      metadata: opt(b.metadata),
      ...(f?.type === 'json_schema' ? { guidedJson: f.schema } : f?.type === 'json_object' ? { jsonObject: true } : {}),
      skip: skipSpec(b.skip),
      ...(b.store === false ? { unrecorded: true } : {}),
    },
    toolMode: toolModeOf(tools),
    fields: { 'tools[*].function.': 'tools[*].', toolChoice: 'tool_choice', parallelToolCalls: 'parallel_tool_calls', maxTokens: 'max_output_tokens', messages: 'input', prompt: 'input', guidedJson: 'text.format.schema', jsonObject: 'text.format', topLogprobs: 'top_logprobs', logprobs: 'include' },
  };
}
