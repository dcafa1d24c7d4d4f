/**
 * OpenAI Responses API shapes built from engine results: the `response` object (its output is the
 * selected candidate: one message, or under a tool choice its function calls; skipserve's `skip`
 * summary lists every candidate) and the items the streaming events carry.
 */
import { callsOf } from '../../engine/tool-call-stream.ts';
import { type GuidedToolMode, readToolCalls, type ToolCall, type ToolMode } from '../../engine/tool-calls.ts';
import { splitAnswer } from '../../engine/chat-answer.ts';
import type { ReasoningParserName } from '../../engine/reasoning-parsers.ts';
import type { GenerationResult, TextTokenizer, TokenLogprob } from '../../engine/types.ts';
import { planToWire } from '../../plans/plan.ts';
import { chatLogprobs } from './openai-format.ts';
import type { ResponsesRequestBody } from './responses-schema.ts';
import { skipSummary } from './skip-summary.ts';

/** What every object of one response shares. */
export interface ResponseMeta {
  id: string;
  /** Unix seconds. */
  createdAt: number;
  model: string;
  body: ResponsesRequestBody;
  /** The output message's id. */
  messageId: string;
  tok: TextTokenizer;
  withLogprobs: boolean;
  /** How the candidates' text reads back as function calls (null: text). */
  toolMode: ToolMode | null;
  /** The server's --reasoning-parser: a reasoning item before the message. */
  reasoning?: ReasoningParserName;
}

/**
 * The ids of output item `index` when it is a function call, derived from the response's id so
 * that the stream, the answer and the stored response name each call alike.
 */
export function callIds(m: ResponseMeta, index: number): { id: string; callId: string } {
  const s = m.id.slice(m.id.indexOf('_') + 1);
  return { id: `fc_${s}_${index}`, callId: `call_${s}_${index}` };
}

/** The calls an unfinished tool-call text had begun (their arguments as far as they got). */
function partialCalls(text: string, mode: GuidedToolMode): ToolCall[] {
  return mode.kind === 'named' ? [{ name: mode.name, arguments: text }] : callsOf(text);
}

/** Function-call output item `index`. */
export function functionCallItem(m: ResponseMeta, index: number, call: ToolCall, status: 'in_progress' | 'completed' | 'incomplete') {
  const { id, callId } = callIds(m, index);
  return { type: 'function_call', id, call_id: callId, name: call.name, arguments: call.arguments, status };
}

/** Output-text logprobs: `[{token, logprob, bytes, top_logprobs}]`, the entries of chat's logprobs. */
export function outputLogprobs(tok: TextTokenizer, lps: readonly TokenLogprob[]) {
  return chatLogprobs(tok, lps).content;
}

/** The output message item. */
export function messageItem(m: ResponseMeta, text: string, status: 'in_progress' | 'completed' | 'incomplete', lps: readonly TokenLogprob[] | null) {
  return { type: 'message', id: m.messageId, status, role: 'assistant', content: status === 'in_progress' ? [] : [textPart(m, text, lps)] };
}

export function textPart(m: ResponseMeta, text: string, lps: readonly TokenLogprob[] | null) {
  return { type: 'output_text', text, annotations: [], ...(m.withLogprobs ? { logprobs: outputLogprobs(m.tok, lps ?? []) } : {}) };
}

/** The reasoning item (the `<think>` part, with --reasoning-parser). */
export function reasoningItem(m: ResponseMeta, text: string, status: 'in_progress' | 'completed' | 'incomplete') {
  return { type: 'reasoning', id: `rs_${m.id.slice(m.id.indexOf('_') + 1)}`, summary: [], content: status === 'in_progress' ? [] : [{ type: 'reasoning_text', text }], status };
}

/**
 * The output items of the selected candidate's text: under a guided tool choice its calls (those
 * cut by max_output_tokens as far as they got); otherwise, in order, its reasoning (with a
 * reasoning parser, when not empty), the message of its content (always when it made no calls)
 * and, under `auto`, the calls it chose to make (output index i names the call's ids).
 */
export function outputItems(m: ResponseMeta, text: string, status: 'completed' | 'incomplete', lps: readonly TokenLogprob[] | null): Record<string, unknown>[] {
  const mode = m.toolMode;
  if (mode && mode.kind !== 'auto') {
    const calls = status === 'completed' ? readToolCalls(text, mode) : partialCalls(text, mode);
    return calls?.length ? calls.map((call, i) => functionCallItem(m, i, call, status)) : [messageItem(m, text, status, lps)];
  }
  const a = splitAnswer(text, m.reasoning, mode);
  const items: Record<string, unknown>[] = a.reasoning ? [reasoningItem(m, a.reasoning, status)] : [];
  // The tokens' logprobs belong to the message only when it is the whole text.
  const whole = !a.reasoning && !a.calls.length;
  if (!a.calls.length || a.content !== null) items.push(messageItem(m, a.content ?? '', status, whole ? lps : null));
  return [...items, ...a.calls.map((call, i) => functionCallItem(m, items.length + i, call, status))];
}

/** The response object; `r` null while it runs (status in_progress, no output yet). */
export function responseObject(m: ResponseMeta, r: GenerationResult | null): Record<string, unknown> {
  const b = m.body;
  const base = {
    id: m.id,
    object: 'response',
    created_at: m.createdAt,
    background: b.background ?? false,
    status: 'in_progress',
    error: null,
    incomplete_details: null as { reason: string } | null,
    instructions: b.instructions ?? null,
    max_output_tokens: b.max_output_tokens ?? null,
    model: m.model,
    output: [] as unknown[],
    parallel_tool_calls: b.parallel_tool_calls ?? true,
    previous_response_id: b.previous_response_id ?? null,
    reasoning: { effort: b.reasoning?.effort ?? null, summary: null },
    service_tier: b.service_tier ?? 'default',
    store: b.store ?? true,
    temperature: b.temperature ?? 1,
    text: { format: b.text?.format ?? { type: 'text' }, verbosity: b.text?.verbosity ?? 'medium' },
    tool_choice: b.tool_choice ?? 'auto',
    tools: b.tools ?? [],
    top_logprobs: b.top_logprobs ?? 0,
    top_p: b.top_p ?? 1,
    truncation: 'disabled',
    usage: null as unknown,
    user: b.user ?? null,
    metadata: b.metadata ?? {},
  };
  if (!r) return base;
  const c = r.candidates[r.selectedIndex ?? 0]!;
  const complete = c.finishReason !== 'length';
  const status = complete ? 'completed' : 'incomplete';
  return {
    ...base,
    status,
    incomplete_details: complete ? null : { reason: 'max_output_tokens' },
    output: outputItems(m, c.text, status, c.logprobs),
    usage: {
      input_tokens: r.promptTokens,
      input_tokens_details: { cached_tokens: r.cachedTokens },
      output_tokens: r.completionTokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: r.promptTokens + r.completionTokens,
    },
    skip: {
      ...skipSummary(r),
      candidates: r.candidates.map((x) => ({ index: x.index, text: x.text, finish_reason: x.finishReason, answer: x.answer, score: Number.isFinite(x.meanLogprob) ? x.meanLogprob : null, skip_plan: planToWire(x.plan) })),
    },
  };
}
