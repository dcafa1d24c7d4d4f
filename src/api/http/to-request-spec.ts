/**
 * OpenAI wire bodies -> the engine's RequestSpec (wire names stop here), plus the per-request
 * renames the error mapping needs (e.g. a request that used max_completion_tokens).
 */
import { REQUEST_LIMITS } from '../../engine/request-checks.ts';
import type { ChatRendering, RequestSpec, SkipSpec } from '../../engine/types.ts';
import { InvalidRequestError } from '../../errors.ts';
import { withReasoningEffort } from '../reasoning-effort.ts';
import type { SkipPlanWire } from '../../plans/plan.ts';
import type { ChatRequestBody, CompletionRequestBody, SkipBody } from './request-schema.ts';
import type { ChatMessage } from '../../text/chat-template.ts';
import { toolModeOf, type ToolDef, type ToolFields, type ToolMode } from '../../engine/tool-calls.ts';
import type { ToolParserName } from '../../engine/tool-parsers.ts';

/** A RequestSpec and the wire names its domain fields had in this request. */
export interface HttpSpec {
  spec: RequestSpec;
  fields: Record<string, string>;
  /** Chat with a tool choice that makes the model call a function: how its text reads back as tool calls. */
  toolMode?: ToolMode | null;
}

/** A nullable wire value as an optional one (JSON null = not sent). */
export const opt = <T>(v: T | null | undefined): T | undefined => (v === null ? undefined : v);

/** `stop` as a list (OpenAI takes one string or several). */
export const stopList = (stop: string | string[] | null | undefined): string[] | undefined => (stop == null ? undefined : typeof stop === 'string' ? [stop] : stop);

export function skipSpec(s: SkipBody | undefined): SkipSpec | undefined {
  if (!s) return undefined;
  return {
    policy: s.policy,
    plan: s.plan as SkipPlanWire | undefined,
    plans: s.plans as SkipPlanWire[] | undefined,
    k: s.k,
    targetSpeedup: s.target_speedup,
    domain: s.domain,
    coreFraction: s.core_fraction,
    select: s.select,
    answerPattern: s.answer_pattern,
    referenceAnswer: s.reference_answer === undefined ? undefined : String(s.reference_answer),
  };
}

/** Guided decoding from OpenAI's response_format or vLLM's guided_* fields (guided-request.ts checks that at most one is set). */
function guideFields(b: ChatRequestBody | CompletionRequestBody): Pick<RequestSpec, 'guidedRegex' | 'guidedChoice' | 'guidedJson' | 'guidedGrammar' | 'jsonObject'> {
  const rf = b.response_format;
  if (b.guided_grammar != null && b.grammar != null) throw new InvalidRequestError("set one of guided_grammar (vLLM's name) and grammar (llama.cpp's)", 'grammar');
  const so = b.structured_outputs;
  if (so) {
    const old = (['guided_regex', 'guided_choice', 'guided_json', 'guided_grammar', 'grammar', 'response_format'] as const).find((k) => b[k] != null);
    if (old) throw new InvalidRequestError(`set the guide in structured_outputs or in ${old}, not both`, old);
    return {
      guidedRegex: opt(so.regex),
      guidedChoice: opt(so.choice),
      guidedJson: opt(so.json),
      guidedGrammar: opt(so.grammar),
      ...(so.json_object ? { jsonObject: true } : {}),
    };
  }
  return {
    guidedRegex: opt(b.guided_regex),
    guidedGrammar: opt(b.guided_grammar) ?? opt(b.grammar),
    guidedChoice: opt(b.guided_choice),
    guidedJson: rf?.type === 'json_schema' ? (rf.json_schema.schema ?? { type: 'object' }) : opt(b.guided_json),
    ...(rf?.type === 'json_object' ? { jsonObject: true } : {}),
  };
}

/** Wire names of the guide fields a response_format set (errors about them name it). */
function guideWireNames(b: ChatRequestBody | CompletionRequestBody): Record<string, string> {
  const t = b.response_format?.type;
  if (b.structured_outputs) return { guidedRegex: 'structured_outputs.regex', guidedChoice: 'structured_outputs.choice', guidedJson: 'structured_outputs.json', guidedGrammar: 'structured_outputs.grammar', jsonObject: 'structured_outputs.json_object' };
  if (b.grammar != null) return { guidedGrammar: 'grammar' };
  if (t === 'json_schema') return { guidedJson: 'response_format.json_schema.schema' };
  if (t === 'json_object') return { jsonObject: 'response_format' };
  return {};
}

function common(b: ChatRequestBody | CompletionRequestBody): Omit<RequestSpec, 'prompt'> {
  return {
    ...guideFields(b),
    model: b.model,
    n: b.n,
    bestOf: opt(b.best_of),
    maxTokens: opt(b.max_completion_tokens) ?? opt(b.max_tokens),
    temperature: opt(b.temperature),
    topP: opt(b.top_p),
    topK: opt(b.top_k),
    minP: opt(b.min_p),
    presencePenalty: opt(b.presence_penalty),
    frequencyPenalty: opt(b.frequency_penalty),
    logitBias: opt(b.logit_bias),
    repetitionPenalty: opt(b.repetition_penalty),
    allowedTokenIds: opt(b.allowed_token_ids),
    badWords: opt(b.bad_words),
    stopTokenIds: opt(b.stop_token_ids),
    minTokens: opt(b.min_tokens),
    includeStopStrInOutput: opt(b.include_stop_str_in_output),
    skipSpecialTokens: opt(b.skip_special_tokens),
    priority: opt(b.priority),
    promptLogprobs: opt(b.prompt_logprobs),
    truncatePromptTokens: opt(b.truncate_prompt_tokens),
    seed: opt(b.seed),
    stop: stopList(b.stop),
    ignoreEos: b.ignore_eos,
    useBeamSearch: opt(b.use_beam_search),
    lengthPenalty: opt(b.length_penalty),
    skip: skipSpec(b.skip),
    metadata: opt(b.metadata),
  };
}

/**
 * Wire chat messages as the engine's (text parts joined); an assistant turn's tool calls and a tool
 * turn's call id go to the chat template as they came. Content may be null only beside tool calls.
 */
export function chatMessages(messages: ChatRequestBody['messages']): ChatMessage[] {
  return messages.map((m, i) => {
    if (m.content === null && !(m.role === 'assistant' && m.tool_calls?.length)) throw new InvalidRequestError(`messages[${i}].content may be null only in an assistant message with tool_calls`, `messages[${i}].content`);
    if (m.role === 'tool' && !m.tool_call_id) throw new InvalidRequestError(`messages[${i}] is a tool message: it needs the tool_call_id it answers`, `messages[${i}].tool_call_id`);
    if (m.tool_calls && m.role !== 'assistant') throw new InvalidRequestError(`messages[${i}].tool_calls belong to assistant messages`, `messages[${i}].tool_calls`);
    const content = m.content === null ? '' : typeof m.content === 'string' ? m.content : m.content.map((p) => p.text).join('');
    return { role: m.role, content, ...(m.tool_calls ? { tool_calls: m.tool_calls } : {}), ...(m.tool_call_id ? { tool_call_id: m.tool_call_id } : {}) };
  });
}

/**
 * vLLM's chat rendering fields of a body, in domain terms (absent when not sent). OpenAI's
 * `reasoning_effort` is the chat template's `reasoning_effort` variable, as vLLM passes it (a
 * reasoning model's template reads it; others ignore it); `chat_template_kwargs` naming another
 * value is a 400 naming `reasoning_effort`.
 */
export function chatRendering(b: { add_generation_prompt?: boolean | null; continue_final_message?: boolean | null; chat_template_kwargs?: Record<string, unknown> | null; reasoning_effort?: string | null }): ChatRendering {
  const kwargs = withReasoningEffort(b.chat_template_kwargs, b.reasoning_effort, 'reasoning_effort');
  return {
    ...(b.add_generation_prompt != null ? { addGenerationPrompt: b.add_generation_prompt } : {}),
    ...(b.continue_final_message != null ? { continueFinalMessage: b.continue_final_message } : {}),
    ...(kwargs ? { templateKwargs: kwargs } : {}),
  };
}

/** The tool fields of a chat body, in domain terms; `toolParser` is the server's --tool-call-parser. */
function toolFields(b: ChatRequestBody, toolParser: ToolParserName | undefined): ToolFields {
  const c = b.tool_choice;
  return {
    ...(toolParser ? { toolParser } : {}),
    ...(b.tools ? { tools: b.tools as ToolDef[] } : {}),
    ...(c != null ? { toolChoice: typeof c === 'string' ? c : { name: c.function.name } } : {}),
    ...(b.parallel_tool_calls != null ? { parallelToolCalls: b.parallel_tool_calls } : {}),
  };
}

/** A chat completion body as a RequestSpec; `toolParser` reads `auto` tool calls (the server's --tool-call-parser). */
export function chatSpec(b: ChatRequestBody, toolParser?: ToolParserName): HttpSpec {
  const messages = chatMessages(b.messages);
  const tools = toolFields(b, toolParser);
  return {
    spec: {
      ...common(b),
      ...tools,
      prompt: { kind: 'chat', messages, ...(tools.tools ? { tools: tools.tools } : {}), ...chatRendering(b) },
      logprobs: b.logprobs ?? false,
      topLogprobs: opt(b.top_logprobs),
      ...(b.store === false ? { unrecorded: true } : {}),
    },
    fields: { ...guideWireNames(b), ...(b.max_completion_tokens != null ? { maxTokens: 'max_completion_tokens' } : {}) },
    toolMode: toolModeOf(tools),
  };
}

/**
 * A (legacy) text completion body as RequestSpecs, one per prompt (a string, token ids, or a batch
 * of either, as OpenAI and vLLM take them); `logprobs: k` asks for k alternatives. Errors about a
 * prompt of a batch name it (`prompt[1]`).
 */
export function completionSpecs(b: CompletionRequestBody): HttpSpec[] {
  const p = b.prompt;
  const prompts: RequestSpec['prompt'][] =
    typeof p === 'string'
      ? [{ kind: 'text', text: p }]
      : typeof p[0] === 'string'
        ? (p as string[]).map((text) => ({ kind: 'text', text }))
        : Array.isArray(p[0])
          ? (p as number[][]).map((tokens) => ({ kind: 'tokens', tokens }))
          : [{ kind: 'tokens', tokens: p as number[] }];
  if (prompts.length > REQUEST_LIMITS.maxPrompts) throw new InvalidRequestError(`at most ${REQUEST_LIMITS.maxPrompts} prompts in one request; got ${prompts.length}`, 'prompt');
  const batch = Array.isArray(p) && (typeof p[0] === 'string' || Array.isArray(p[0]));
  return prompts.map((prompt, k) => ({
    spec: { ...common(b), prompt, logprobs: b.logprobs != null, topLogprobs: opt(b.logprobs), ...(b.echo ? { echo: true } : {}) },
    fields: { topLogprobs: 'logprobs', ...guideWireNames(b), ...(b.max_completion_tokens != null ? { maxTokens: 'max_completion_tokens' } : {}), ...(batch && (prompts.length > 1 || Array.isArray(p[0])) ? { prompt: `prompt[${k}]` } : {}) },
  }));
}
